"""What every validation check reports, and what it reads: one shape for all checks.

A check never prints and never raises for a problem in the manifests: it yields
:class:`Finding` values, and the caller decides how to show them (one line each, or ``--json``)
and which exit code they mean. Objects arrive as :class:`Manifest` values, already parsed from
the YAML files of one environment, so every check can name the file and the object.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Severity(enum.Enum):
    """An error fails validation; a warning only with ``--strict``."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Manifest:
    """One Kubernetes object of an environment's output.

    ``file`` is relative to the environment's output directory (``setup/0namespace.yaml``);
    ``index`` counts documents or ``List`` items inside that file (0 for the usual one object).
    """

    file: str
    obj: Mapping[str, Any]
    index: int = 0

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``, or ``Kind/name`` for an object without a namespace."""
        meta = self.obj.get("metadata")
        meta = meta if isinstance(meta, Mapping) else {}
        kind = self.obj.get("kind") if isinstance(self.obj.get("kind"), str) else "?"
        name = meta.get("name") if isinstance(meta.get("name"), str) else "?"
        namespace = meta.get("namespace")
        return f"{kind}/{namespace}/{name}" if isinstance(namespace, str) else f"{kind}/{name}"


@dataclass(frozen=True)
class Finding:
    """One problem: where it is (file, object, JSON path), what is wrong, and which check saw it.

    ``path`` is a JSON path into the object, such as ``$.spec.groups[0].rules[3].expr``.
    """

    file: str
    ref: str
    path: str
    message: str
    check: str
    severity: Severity = Severity.ERROR

    @classmethod
    def at(
        cls,
        manifest: Manifest,
        path: str,
        message: str,
        check: str,
        severity: Severity = Severity.ERROR,
    ) -> Finding:
        return cls(manifest.file, manifest.ref, path, message, check, severity)

    @classmethod
    def in_file(
        cls, file: str, message: str, check: str, severity: Severity = Severity.ERROR
    ) -> Finding:
        """A problem with a whole file (it does not parse, or holds no object)."""
        return cls(file, NO_OBJECT, "$", message, check, severity)

    def line(self, env: str) -> str:
        """``ENV: FILE: KIND/NS/NAME: $.path: message`` (warnings say so)."""
        level = "warning: " if self.severity is Severity.WARNING else ""
        return f"{env}: {self.file}: {self.ref}: {self.path}: {level}{self.message}"

    def as_json(self, env: str) -> dict[str, str]:
        """The ``--json`` form (docs/json.md)."""
        return {
            "environment": env,
            "file": self.file,
            "object": self.ref,
            "path": self.path,
            "message": self.message,
            "check": self.check,
            "severity": self.severity.value,
        }


#: ``Finding.ref`` of a problem with a whole file (it does not parse, it is not an object).
NO_OBJECT = "-"

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def json_path(parts: Iterable[str | int]) -> str:
    """``$.spec.containers[0].name`` from path parts; keys that are not plain are bracketed.

    ``$.metadata.annotations['example.com/x']``: a key with dots or slashes must not read as
    several levels.
    """
    out = ["$"]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _PLAIN_KEY.fullmatch(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


class Check(Protocol):
    """A validation check over all objects of one environment (some rules span objects)."""

    def __call__(self, manifests: Sequence[Manifest]) -> Iterator[Finding]: ...
