"""The two structural checks: built-in kinds against Kubernetes, custom ones against CRDs.

Every object falls in exactly one place, so each problem is reported once:

- its API group is a Kubernetes group (``apps``, ``""``, ``rbac.authorization.k8s.io`` …):
  the ``schemas`` check validates it against that version's schema, or reports that the
  version does not serve this kind (``apps/v1beta1 Deployment`` on 1.35);
- otherwise the ``crds`` check validates it against its CRD's ``openAPIV3Schema``, reports a
  version or kind its group's CRDs do not define, and reports a group no CRD defines as an
  unknown kind: a warning, or an error with ``strict``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from kubeprom_build.validation import crdschemas, kubeschemas, schemaerrors
from kubeprom_build.validation.findings import Finding, Manifest, Severity

SCHEMAS = "schemas"
CRDS = "crds"


def _type(manifest: Manifest) -> tuple[str, str] | None:
    """``(apiVersion, kind)`` when both are non-empty strings."""
    api_version, kind = manifest.obj.get("apiVersion"), manifest.obj.get("kind")
    if isinstance(api_version, str) and api_version and isinstance(kind, str) and kind:
        return api_version, kind
    return None


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


@dataclass(frozen=True)
class SchemaCheck:
    """Objects of Kubernetes' own API groups against the official schemas of ``version``."""

    version: str

    def __call__(self, manifests: Sequence[Manifest]) -> Iterator[Finding]:
        schemas = kubeschemas.load(self.version)
        label = f"Kubernetes {self.version}"
        for manifest in manifests:
            found = _type(manifest)
            if found is None:
                yield _untyped(manifest)
                continue
            api_version, kind = found
            if _group(api_version) not in schemas.groups:
                continue
            name = schemas.lookup(api_version, kind)
            if name is None:
                yield _not_served(manifest, schemas, api_version, kind)
                continue
            yield from schemaerrors.findings(schemas.validator(name), manifest, SCHEMAS, label)


def _untyped(manifest: Manifest) -> Finding:
    missing = [k for k in ("apiVersion", "kind") if not isinstance(manifest.obj.get(k), str)]
    what = " and ".join(f"'{k}'" for k in missing) or "'apiVersion' and 'kind'"
    path = f"$.{missing[0]}" if len(missing) == 1 else "$"
    return Finding.at(manifest, path, f"missing or empty {what}", SCHEMAS)


def _not_served(
    manifest: Manifest, schemas: kubeschemas.KubeSchemas, api_version: str, kind: str
) -> Finding:
    group = _group(api_version)
    served = schemas.served_versions(group, kind)
    if served:
        where = "/".join(p for p in (group, served[-1]) if p)
        hint = f"; it serves {kind} as {where}"
        return Finding.at(
            manifest,
            "$.apiVersion",
            f"Kubernetes {schemas.version} does not serve {kind} in {api_version}{hint}",
            SCHEMAS,
        )
    return Finding.at(
        manifest,
        "$.kind",
        f"Kubernetes {schemas.version} has no kind {kind} in {api_version}",
        SCHEMAS,
    )


@dataclass(frozen=True)
class CrdCheck:
    """Custom resources against the CRDs of the build and of ``crd_dirs``.

    ``builtin_version`` names the Kubernetes schemas whose groups are left to
    :class:`SchemaCheck`; ``strict`` makes an unknown kind an error instead of a warning.
    """

    builtin_version: str
    crd_dirs: tuple[Path, ...] = ()
    strict: bool = False

    def __call__(self, manifests: Sequence[Manifest]) -> Iterator[Finding]:
        builtin = kubeschemas.load(self.builtin_version).groups
        crds = crdschemas.collect(manifests, self.crd_dirs)
        for manifest in manifests:
            found = _type(manifest)
            if found is None or _group(found[0]) in builtin:
                continue
            api_version, kind = found
            group, _, version = api_version.rpartition("/")
            versions = crds.kinds.get((group, kind))
            if versions is None:
                yield self._unknown(manifest, crds, group, kind, api_version)
                continue
            entry = versions.get(version)
            if entry is None or not entry.served:
                listed = ", ".join(sorted(v for v, e in versions.items() if e.served)) or "none"
                yield Finding.at(
                    manifest,
                    "$.apiVersion",
                    f"the CRD of {kind}.{group} does not serve {version} (served: {listed})",
                    CRDS,
                )
                continue
            validator = crds.validator(group, kind, version)
            if validator is not None:
                label = f"CRD {kind}.{group} {version}, {entry.source}"
                yield from schemaerrors.findings(validator, manifest, CRDS, label)

    def _unknown(
        self,
        manifest: Manifest,
        crds: crdschemas.CrdSchemas,
        group: str,
        kind: str,
        api_version: str,
    ) -> Finding:
        if group in crds.groups:
            kinds = sorted(k for g, k in crds.kinds if g == group)
            return Finding.at(
                manifest,
                "$.kind",
                f"no CRD defines kind {kind} in {group} (it has {', '.join(kinds)})",
                CRDS,
            )
        severity = Severity.ERROR if self.strict else Severity.WARNING
        return Finding.at(
            manifest,
            "$.kind",
            f"unknown kind {kind} ({api_version}): no Kubernetes schema and no CRD in the build "
            "or a --crd-dir; not validated",
            CRDS,
            severity,
        )
