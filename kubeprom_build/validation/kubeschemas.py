"""The official Kubernetes JSON schemas of one version, as fast validators per kind.

The schemas come from the ``kubernetes-validate`` package, which ships them for every minor
version it supports (``-local-strict`` flavour: unknown fields are errors, as with
``kubectl --validate=strict``, the default since Kubernetes 1.25). Its own ``validate`` goes
through the pure-Python ``jsonschema``; kpb only reads its files and compiles them with
jsonschema-rs, which is orders of magnitude faster here (docs/validation.md has the numbers).
All definitions live in one ``_definitions.json``: it is loaded once per version into a
jsonschema-rs ``Registry``, and a kind's validator is a ``$ref`` into it, compiled on first use.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeprom_build.errors import ConfigError

if TYPE_CHECKING:  # loaded on first use: reading settings or a version must not load it
    import jsonschema_rs
from kubeprom_build.validation import schemaerrors

_DEFINITIONS = "_definitions.json"
_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?")


def schema_root() -> Path:
    """Where kubernetes-validate keeps its schemas (found without importing the package)."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("the kubernetes-validate package is not installed; reinstall kpb")
    return Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"


@functools.cache
def versions() -> tuple[str, ...]:
    """The Kubernetes minor versions whose schemas are installed, oldest first (``1.25``…)."""
    found = set()
    for entry in schema_root().iterdir():
        match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+-local-strict", entry.name)
        if match:
            found.add((int(match.group(1)), int(match.group(2))))
    return tuple(f"{major}.{minor}" for major, minor in sorted(found))


def minor_version(text: str, where: str) -> str:
    """``1.33`` from ``1.33``, ``v1.33`` or ``1.33.2``; else one line naming ``where``."""
    match = _VERSION.fullmatch(text.strip())
    known = versions()
    if match is None:
        raise ConfigError(f"{where}: {text!r} is not a Kubernetes version like {known[-1]}")
    minor = f"{int(match.group(1))}.{int(match.group(2))}"
    if minor not in known:
        raise ConfigError(
            f"{where}: no schemas for Kubernetes {minor} (installed: {known[0]} to {known[-1]})"
        )
    return minor


@dataclass
class KubeSchemas:
    """Validators for the built-in kinds of one Kubernetes minor version."""

    version: str
    _registry: jsonschema_rs.Registry = field(init=False, repr=False)
    _base: str = field(init=False, repr=False)
    #: (group, version, kind) → name of its definition.
    _kinds: dict[tuple[str, str, str], str] = field(init=False, repr=False)
    #: API groups (``""`` for core) with at least one built-in kind.
    groups: frozenset[str] = field(init=False)
    _compiled: dict[str, jsonschema_rs.Validator] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        import jsonschema_rs

        folder = _folder(self.version)
        definitions = json.loads((folder / _DEFINITIONS).read_bytes())
        self._base = str(definitions.get("$id", "https://kubernetes.io/api/_definitions.json"))
        self._registry = jsonschema_rs.Registry([(self._base, definitions)])
        self._kinds = _index(definitions.get("$defs", {}))
        self.groups = frozenset(group for group, _v, _k in self._kinds)

    def lookup(self, api_version: str, kind: str) -> str | None:
        """The definition's name for ``apiVersion``/``kind``, or None if not built in."""
        group, _, version = api_version.rpartition("/")
        return self._kinds.get((group, version, kind))

    def served_versions(self, group: str, kind: str) -> list[str]:
        """The versions of ``group`` that do serve ``kind`` (for a helpful message)."""
        return sorted(v for g, v, k in self._kinds if g == group and k == kind)

    def validator(self, name: str) -> jsonschema_rs.Validator:
        """The compiled validator of definition ``name`` (compiled once)."""
        compiled = self._compiled.get(name)
        if compiled is None:
            schema = {"$ref": f"{self._base}#/$defs/{name}"}
            compiled = schemaerrors.compile_schema(schema, self._registry)
            self._compiled[name] = compiled
        return compiled


def _folder(version: str) -> Path:
    return schema_root() / f"v{version}.0-local-strict"


def _index(definitions: dict[str, Any]) -> dict[tuple[str, str, str], str]:
    """Top-level kinds only: a definition with exactly one group-version-kind.

    Helper types shared by many groups (``DeleteOptions``, ``WatchEvent``) list several and
    are never objects one applies.
    """
    kinds: dict[tuple[str, str, str], str] = {}
    for name, definition in definitions.items():
        gvks = definition.get("x-kubernetes-group-version-kind")
        if isinstance(gvks, list) and len(gvks) == 1:
            gvk = gvks[0]
            kinds[(gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", ""))] = name
    return kinds


@functools.cache
def load(version: str) -> KubeSchemas:
    """The schemas of ``version``, loaded once per process (a build validates several envs)."""
    return KubeSchemas(version)
