"""A small project whose one environment builds into valid Kubernetes objects and a CRD.

No kube-prometheus: ``environments/<env>.jsonnet`` is the JSON of :func:`objects` (jsonnet is
a superset of JSON), so a test can change any object before building. The CRD in ``setup/``
is a cut-down ServiceMonitor with the OpenAPI features validation must understand (required
fields, a pattern, ``x-kubernetes-int-or-string``, ``nullable``, preserved unknown fields).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

#: A secret-looking value: no message, line or JSON document may ever contain it.
SECRET = "https://hooks.slack.com/services/T0SEKRET/B0SEKRET/xoxb-sekret-4f1c9a"

_ENDPOINT = {
    "type": "object",
    "properties": {
        "port": {"type": "string"},
        "interval": {"type": "string", "pattern": "^(([0-9]+)(ms|s|m|h))+$"},
        "targetPort": {"x-kubernetes-int-or-string": True},
        "relabelings": {"type": "array", "nullable": True, "items": {"type": "object"}},
    },
}
CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "servicemonitors.monitoring.coreos.com"},
    "spec": {
        "group": "monitoring.coreos.com",
        "names": {
            "kind": "ServiceMonitor",
            "listKind": "ServiceMonitorList",
            "plural": "servicemonitors",
            "singular": "servicemonitor",
        },
        "scope": "Namespaced",
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "apiVersion": {"type": "string"},
                            "kind": {"type": "string"},
                            "metadata": {"type": "object"},
                            "spec": {
                                "type": "object",
                                "required": ["selector"],
                                "properties": {
                                    "jobLabel": {"type": "string"},
                                    "endpoints": {"type": "array", "items": _ENDPOINT},
                                    "selector": {
                                        "type": "object",
                                        "x-kubernetes-preserve-unknown-fields": True,
                                    },
                                },
                            },
                        },
                    }
                },
            }
        ],
    },
}

_LABELS = {"app.kubernetes.io/name": "demo"}


def objects() -> dict[str, Any]:
    """``{output key: object}`` of the valid environment (fresh copies each call)."""
    return copy.deepcopy(
        {
            "setup/0servicemonitorCustomResourceDefinition": CRD,
            "setup/0namespace": {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "monitoring"},
            },
            "demo-deployment": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "demo", "namespace": "monitoring", "labels": _LABELS},
                "spec": {
                    "replicas": 2,
                    "selector": {"matchLabels": _LABELS},
                    "template": {
                        "metadata": {"labels": _LABELS},
                        "spec": {
                            "containers": [
                                {
                                    "name": "demo",
                                    "image": "quay.io/example/demo:v1",
                                    "ports": [{"name": "http", "containerPort": 8080}],
                                    "resources": {"requests": {"cpu": "10m", "memory": "20Mi"}},
                                }
                            ]
                        },
                    },
                },
            },
            "demo-service": {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "demo", "namespace": "monitoring"},
                "spec": {
                    "selector": _LABELS,
                    "ports": [{"name": "http", "port": 8080, "targetPort": "http"}],
                },
            },
            "demo-serviceMonitor": {
                "apiVersion": "monitoring.coreos.com/v1",
                "kind": "ServiceMonitor",
                "metadata": {"name": "demo", "namespace": "monitoring"},
                "spec": {
                    "jobLabel": "app.kubernetes.io/name",
                    "selector": {"matchLabels": _LABELS},
                    "endpoints": [{"port": "http", "interval": "30s", "targetPort": 8080}],
                },
            },
            "alertmanager-secret": {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "alertmanager-main", "namespace": "monitoring"},
                "type": "Opaque",
                "stringData": {"slack_url": SECRET},
            },
            "demo-configmap": {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "demo-config", "namespace": "monitoring"},
                "data": {"webhook": SECRET, "level": "info"},
            },
        }
    )


def write_env(project: Path, env: str, values: dict[str, Any]) -> None:
    """``environments/<env>.jsonnet`` evaluating to ``values``."""
    folder = project / "environments"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{env}.jsonnet").write_text(json.dumps(values, indent=1) + "\n")


def make_project(root: Path, envs: tuple[str, ...] = ("dev",)) -> Path:
    """A project (no jsonnetfile.json: nothing to vendor) with ``envs``, all valid."""
    root.mkdir(parents=True, exist_ok=True)
    for env in envs:
        write_env(root, env, objects())
    return root
