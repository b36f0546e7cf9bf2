"""Builders for YAML emitter tests: the shared gojsontoyaml golden cases and big documents."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.realworld import kube_prometheus_dir

# Golden cases: real gojsontoyaml v0.1.0 output, copied into this folder.
HERE = Path(__file__).resolve().parent

# Cases whose expected text shows what gojsontoyaml did, but which kpb must refuse: gojsontoyaml
# reads JSON as YAML, so a raw NEL/LS in a string is folded to a space and a leading BOM garbled.
OUT_OF_CONTRACT = ("s_nel", "s_bom", "s_ls")


def golden_cases() -> tuple[dict[str, object], dict[str, str]]:
    """The golden input object and, per top-level key, the exact YAML block gojsontoyaml wrote."""
    document = json.loads((HERE / "yaml_cases.json").read_text(encoding="utf-8"))
    text = (HERE / "yaml_cases.expected.yaml").read_text(encoding="utf-8")
    return document, split_top_level(text)


def split_top_level(text: str) -> dict[str, str]:
    """Cut a block-mapping document into one text per top-level key, in file order.

    A top-level entry starts at column 0 with anything but ``- `` (indentless sequence items of
    the previous key); literal-block blank lines are empty and belong to the entry before them.
    """
    blocks: dict[str, str] = {}
    current: list[str] = []
    for line in text.splitlines(keepends=True):
        if line[:1] not in ("", " ", "-", "\n") and current:
            _store(blocks, current)
            current = []
        current.append(line)
    if current:
        _store(blocks, current)
    return blocks


def _store(blocks: dict[str, str], lines: list[str]) -> None:
    first = lines[0]
    key = first.split(":", 1)[0] if first[:1] not in ("'", '"') else _quoted_key(first)
    blocks[key] = "".join(lines)


def _quoted_key(line: str) -> str:
    quote = line[0]
    end = line.index(quote + ":", 1)
    return line[1:end]


def real_manifests() -> dict[str, str]:
    """Committed kube-prometheus output (``manifests/**`` and ``kustomization.yaml``) by relative
    path, from the kube-prometheus checkout under ``KPB_MIRRORS``; empty when not configured."""
    base = kube_prometheus_dir()
    root = base / "src" if base else None
    if root is None or not (root / "manifests").is_dir():
        return {}
    files = [*sorted((root / "manifests").rglob("*.yaml")), root / "kustomization.yaml"]
    return {
        str(path.relative_to(root)): path.read_text(encoding="utf-8")
        for path in files
        if path.is_file()
    }


def large_document(target_bytes: int) -> dict[str, object]:
    """A kube-prometheus-shaped List (dashboards, rules, CRD-ish text) of about the given size."""
    items: list[object] = []
    size = 0
    index = 0
    while size < target_bytes:
        item = _manifest(index)
        size += len(json.dumps(item))
        items.append(item)
        index += 1
    return {"apiVersion": "v1", "kind": "List", "items": items}


def _manifest(index: int) -> dict[str, object]:
    dashboard = {
        "panels": [
            {
                "id": panel,
                "title": f"Panel {panel} of dashboard {index}",
                "gridPos": {"h": 8, "w": 12, "x": 12 * (panel % 2), "y": 8 * panel},
                "targets": [{"expr": f'sum(rate(http_requests_total{{job="x{panel}"}}[5m]))'}],
                "fieldConfig": {"defaults": {"unit": "percentunit", "max": 1.0, "min": 0.5}},
            }
            for panel in range(12)
        ],
        "schemaVersion": 39,
        "tags": ["kubernetes-mixin", "prometheus"],
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"grafana-dashboard-{index}",
            "namespace": "monitoring",
            "labels": {"app.kubernetes.io/name": "grafana", "app.kubernetes.io/version": "11.2.0"},
            "annotations": {"description": "Line one.\n\tTabbed line two: true\n"},
        },
        "data": {f"dashboard-{index}.json": json.dumps(dashboard, indent=4)},
        "rules": [
            {
                "alert": f"KubeTargetDown{index}",
                "expr": "100 * (count(up == 0) BY (job, namespace)\n  / count(up)) > 10\n",
                "for": "15m",
                "labels": {"severity": "warning", "port": "80", "enabled": "true"},
                "annotations": {"runbook_url": "https://runbooks.example/kubetargetdown"},
            }
        ],
        "args": ["--web.listen-address=:8080", "--log.level=info", "- x", "#comment"],
        "replicas": index,
        "ratio": index / 7,
        "empty": {},
        "none": [],
        "flag": index % 2 == 0,
        "nothing": None,
    }
