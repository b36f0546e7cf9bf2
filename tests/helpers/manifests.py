"""Manifests for the validation tests: YAML files read into ``Manifest`` values.

``List`` kinds are flattened into their items (``index`` counts them), as ``Manifest`` defines,
so a test sees kube-prometheus's ``ConfigMapList`` of dashboards as separate ConfigMaps.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubeprom_build.validation import Manifest


class _Loader(yaml.SafeLoader):
    """YAML 1.1's ``=`` (value) tag appears unquoted in CRD schemas; read it as text."""


_Loader.add_constructor("tag:yaml.org,2002:value", lambda load, node: load.construct_scalar(node))


def documents(path: Path) -> list[Any]:
    return [doc for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=_Loader) if doc]


def as_manifests(files: dict[str, list[Any]]) -> list[Manifest]:
    """``{relative file: [documents]}`` → manifests, ``*List`` items flattened."""
    found: list[Manifest] = []
    for name, docs in files.items():
        index = 0
        for doc in docs:
            flat = doc["items"] if str(doc.get("kind", "")).endswith("List") else [doc]
            for item in flat:
                found.append(Manifest(name, item, index))
                index += 1
    return found


def load_dir(root: Path) -> list[Manifest]:
    """Every ``*.yaml`` under ``root`` (names relative to it)."""
    files = {str(p.relative_to(root)): documents(p) for p in sorted(root.rglob("*.yaml"))}
    return as_manifests(files)
