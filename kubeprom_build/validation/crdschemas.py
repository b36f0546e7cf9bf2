"""Custom resources' schemas, taken from CustomResourceDefinitions, as fast validators.

The CRDs come from the same build (kube-prometheus puts them in ``setup/``) or from
directories the user names (``--crd-dir``, ``crd-dirs`` in kpb.toml) holding CRD manifests, for
operators installed some other way. Each served version's ``openAPIV3Schema`` is an OpenAPI
structural schema, not quite JSON Schema; :func:`to_json_schema` makes it one, keeping what the
API server enforces: ``nullable``, ``x-kubernetes-int-or-string``, and unknown fields refused
unless ``x-kubernetes-preserve-unknown-fields`` says otherwise (the server prunes them, and
``kubectl``'s strict field validation rejects them). CEL rules (``x-kubernetes-validations``)
are not evaluated.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema_rs

from kubeprom_build.errors import ConfigError
from kubeprom_build.validation import documents, schemaerrors
from kubeprom_build.validation.findings import Manifest

CRD_API_VERSIONS = frozenset({"apiextensions.k8s.io/v1"})
CRD_KIND = "CustomResourceDefinition"
_EMBEDDED = ("apiVersion", "kind", "metadata")


@dataclass(frozen=True)
class CrdVersion:
    """One version of one custom kind: whether it is served, and its schema (None: none)."""

    served: bool
    schema: Mapping[str, Any] | None
    source: str  # where the CRD came from, for messages


@dataclass
class CrdSchemas:
    """Every custom kind known from CRDs: ``(group, kind) → {version: CrdVersion}``."""

    kinds: dict[tuple[str, str], dict[str, CrdVersion]] = field(default_factory=dict)
    _compiled: dict[tuple[str, str, str], jsonschema_rs.Validator] = field(
        default_factory=dict, repr=False
    )

    @property
    def groups(self) -> frozenset[str]:
        return frozenset(group for group, _kind in self.kinds)

    def add(self, crd: Mapping[str, Any], source: str) -> None:
        """Record one CRD object (malformed ones are the schema check's to report)."""
        spec = crd.get("spec")
        if not isinstance(spec, Mapping):
            return
        group, names = spec.get("group"), spec.get("names")
        kind = names.get("kind") if isinstance(names, Mapping) else None
        versions = spec.get("versions")
        if not (isinstance(group, str) and isinstance(kind, str) and isinstance(versions, list)):
            return
        known = self.kinds.setdefault((group, kind), {})
        for entry in versions:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
                continue
            schema = entry.get("schema")
            openapi = schema.get("openAPIV3Schema") if isinstance(schema, Mapping) else None
            known.setdefault(
                entry["name"],
                CrdVersion(
                    bool(entry.get("served", True)),
                    openapi if isinstance(openapi, Mapping) else None,
                    source,
                ),
            )

    def validator(self, group: str, kind: str, version: str) -> jsonschema_rs.Validator | None:
        """The compiled validator of a served version with a schema, compiled once."""
        key = (group, kind, version)
        if key not in self._compiled:
            entry = self.kinds.get((group, kind), {}).get(version)
            if entry is None or entry.schema is None:
                return None
            self._compiled[key] = schemaerrors.compile_schema(to_json_schema(entry.schema))
        return self._compiled[key]


def is_crd(obj: Mapping[str, Any]) -> bool:
    return obj.get("kind") == CRD_KIND and obj.get("apiVersion") in CRD_API_VERSIONS


def collect(manifests: Iterable[Manifest], crd_dirs: Iterable[Path]) -> CrdSchemas:
    """The CRDs of the build first (they win over a directory's copy), then each directory's."""
    found = CrdSchemas()
    for manifest in manifests:
        if is_crd(manifest.obj):
            found.add(manifest.obj, manifest.file)
    for folder in crd_dirs:
        for crd, source in _directory_crds(folder):
            found.add(crd, source)
    return found


def _directory_crds(folder: Path) -> list[tuple[Mapping[str, Any], str]]:
    """The CRDs in a user's directory; anything there that does not parse is a config error."""
    if not folder.is_dir():
        raise ConfigError(f"--crd-dir {folder}: not a directory")
    try:
        read = documents.from_directory(folder)
    except OSError as err:
        raise ConfigError(f"--crd-dir {folder}: {os.strerror(err.errno or 0)}") from None
    if read.findings:
        bad = read.findings[0]
        raise ConfigError(f"--crd-dir {folder}: {bad.file}: {bad.message}")
    return [(m.obj, f"{folder}/{m.file}") for m in read.manifests if is_crd(m.obj)]


def to_json_schema(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An OpenAPI v3 structural schema as a JSON schema the API server would agree with."""
    converted: dict[str, Any] = _convert(schema)
    converted["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return converted


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {name: _convert(sub) for name, sub in value.items()}
        elif key.startswith("x-kubernetes-") or key in ("nullable", "format", "default"):
            continue  # handled below, or annotation-only (formats are not checked)
        else:
            out[key] = _convert(value)
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool):  # OpenAPI 3.0's flag is a number in JSON Schema
            flag = out.pop(bound)
            if flag and limit in out:
                out[bound] = out.pop(limit)
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        types = out["type"] if isinstance(out["type"], list) else [out["type"]]
        out["type"] = [*types, "null"]
    if node.get("x-kubernetes-embedded-resource") and "properties" in out:
        for name in _EMBEDDED:
            out["properties"].setdefault(name, {})
    closed = "properties" in out and "additionalProperties" not in out
    if closed and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out
