"""Run every check over one environment's objects; the gate ``kpb build --validate`` uses.

The list of checks is :func:`checks`: the structural ones need the environment's options
(Kubernetes version, CRD directories, strictness), the domain checks (PromQL rules,
Alertmanager configuration, dashboards) are plain ``check(manifests)`` functions added there,
one line each. Each check sees all objects at once; the runner only collects, counts and
sorts what they yield, and decides whether the environment fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprom_build.errors import InvalidError
from kubeprom_build.validation import alertmanager, dashboards, documents, promrules, structure
from kubeprom_build.validation.findings import Check, Finding, Manifest, Severity
from kubeprom_build.validation.settings import Options


def checks(options: Options) -> list[Check]:
    """Every check, in the order findings are listed."""
    return [
        structure.SchemaCheck(options.kube_version),
        structure.CrdCheck(options.kube_version, options.crd_dirs, options.strict),
        promrules.check,
        alertmanager.check,
        dashboards.check,
    ]


def explain_routes(manifests: Sequence[Manifest]) -> str:
    """``--explain-routes``: each Alertmanager configuration's routing table, a row per line."""
    lines = []
    for table in alertmanager.explain_routes(manifests):
        lines.append(f"{table.file}: {table.ref}: {table.path}")
        lines += [f"  {row.describe()}" for row in table.alerts]
    return "\n".join(lines) if lines else "no Alertmanager configuration found"


def explain_directory(folder: Path) -> str:
    """``--explain-routes`` for the objects in ``folder``."""
    return explain_routes(documents.from_directory(folder).manifests)


@dataclass(frozen=True)
class Result:
    """What validating one environment found."""

    env: str
    options: Options
    objects: int
    findings: tuple[Finding, ...]

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        return len(self.findings) - self.errors

    @property
    def failed(self) -> bool:
        """Errors fail; warnings too with ``strict``."""
        return self.errors > 0 or (self.options.strict and self.warnings > 0)

    def counts(self) -> str:
        """``1 error, 2 warnings``."""
        return f"{_count(self.errors, 'error')}, {_count(self.warnings, 'warning')}"

    def summary(self) -> str:
        return (
            f"{self.env}: {self.objects} objects, {self.counts()} (Kubernetes "
            f"{self.options.kube_version}{', strict' if self.options.strict else ''})"
        )


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run(env: str, read: documents.Documents, options: Options) -> Result:
    """All checks over ``read``'s objects, after the problems found while reading."""
    found = list(read.findings)
    for check in checks(options):
        found.extend(check(read.manifests))
    return Result(env, options, len(read.manifests), tuple(found))


def validate_directory(env: str, folder: Path, options: Options) -> Result:
    """``kpb validate``: the files in an environment's output directory."""
    return run(env, documents.from_directory(folder), options)


def validate_files(env: str, files: Mapping[str, bytes], options: Options) -> Result:
    """A rendered ``{path: bytes}`` map, parsed as the files on disk would be."""
    return run(env, documents.from_files(files), options)


@dataclass(frozen=True)
class Gate:
    """``kpb build --validate``'s check before publishing (a rendering ``Gate``, picklable).

    ``options`` holds each environment's options; an environment without an entry gets the
    defaults. A failing environment raises :class:`InvalidError` carrying the
    :class:`Result`, so its output stays as it was.
    """

    options: tuple[tuple[str, Options], ...] = ()

    def __call__(self, env: str, files: Mapping[str, bytes], values: Mapping[str, Any]) -> Result:
        chosen = dict(self.options).get(env, Options())
        read = documents.from_values(values) if values else documents.from_files(files)
        result = run(env, read, chosen)
        if result.failed:
            raise InvalidError(
                f"environment {env!r} is not valid ({result.counts()}); its output was left "
                "unchanged",
                result,
            )
        return result
