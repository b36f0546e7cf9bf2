"""Builders for small kpb projects in tmp_path: environments/, jsonnet/, vendor/ with links.

The layout mirrors the real repository: a git work tree holding ``environments/<env>.jsonnet``,
our library ``jsonnet/`` and a jb-style ``vendor/`` whose ``kube-prometheus`` entry is a legacy
symlink into ``github.com/...`` and whose ``localdep`` entry links to a sibling folder.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

KP = "github.com/example/kube-prometheus/jsonnet/kube-prometheus"

#: A tiny stand-in for kube-prometheus: a function producing objects of the usual shapes.
KP_MAIN = """
local util = import './lib/util.libsonnet';
{
  new(cfg):: {
    'setup/0namespace-namespace': util.object('v1', 'Namespace', cfg.namespace, cfg.namespace) +
                                   { metadata+: { namespace:: null } },
    'prometheus-prometheus': util.object('monitoring.coreos.com/v1', 'Prometheus', 'k8s',
                                         cfg.namespace) + {
      spec: { replicas: cfg.replicas, retention: '15d',
              resources: { requests: { memory: '400Mi' } },
              ruleSelector: {}, alerting: { alertmanagers: [] }, version: '2.45.0',
              externalLabels: { cluster: cfg.cluster, ratio: 0.5, big: 1e6 } },
    },
    'grafana-dashboards': util.object('v1', 'ConfigMap', 'grafana-dashboards', cfg.namespace) + {
      data: { 'overview.json': std.manifestJsonEx({ title: 'Overview', panels: [1, 2] }, '  '),
              'rules.yaml': 'groups:\\n- name: x\\n  rules: []\\n', yes: 'yes', port: '8080',
              empty: '', tab: 'a\\tb' },
    },
    'prometheus-rules': util.object('monitoring.coreos.com/v1', 'PrometheusRule', 'rules',
                                    cfg.namespace) + {
      spec: { groups: [{ name: 'g', rules: [{ alert: 'Down', expr: 'up == 0\\n',
                                              'for': '5m', labels: { severity: 'critical' } }] }] },
    },
  },
}
"""

KP_UTIL = """
{
  object(apiVersion, kind, name, namespace):: {
    apiVersion: apiVersion, kind: kind,
    metadata: { name: name, namespace: namespace, labels: { 'app.kubernetes.io/part-of': 'kp' } },
  },
}
"""

CLUSTER_LIB = """
local kp = import 'kube-prometheus/main.libsonnet';
local local_ = import 'localdep/extra.libsonnet';
{
  render(cfg):: kp.new(cfg) + { 'extra-configmap': local_.configmap(cfg.namespace) },
}
"""

LOCALDEP = """
{
  configmap(ns):: { apiVersion: 'v1', kind: 'ConfigMap',
                    metadata: { name: 'extra', namespace: ns }, data: { from: 'localdep' } },
}
"""

#: The package conftest's ``lib_project`` vendors, and where it lands.
LIB_FILES = {"a.libsonnet": "{a: 1}\n", "b.libsonnet": "{b: 2}\n", "c/d.libsonnet": "{d: 3}\n"}
LIB_PKG = "vendor/github.com/org/lib"


def env_source(cluster: str, replicas: int = 2) -> str:
    """An environment file in the style of environments/<env>.jsonnet."""
    return (
        "local cluster = import 'cluster.libsonnet';\n"
        f"cluster.render({{ namespace: 'monitoring', cluster: '{cluster}', "
        f"replicas: {replicas} }})\n"
    )


def write_files(root: Path, files: Mapping[str, str]) -> None:
    """Write ``{relative path: text}`` below ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def make_project(root: Path, envs: Mapping[str, str] | None = None) -> Path:
    """A git work tree with dev and prd environments, jsonnet/ and a jb-style vendor/."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    write_files(
        root,
        {
            f"vendor/{KP}/main.libsonnet": KP_MAIN,
            f"vendor/{KP}/lib/util.libsonnet": KP_UTIL,
            "jsonnet/cluster.libsonnet": CLUSTER_LIB,
            "libs/localdep/extra.libsonnet": LOCALDEP,
        },
    )
    os.symlink(KP, root / "vendor" / "kube-prometheus")
    os.symlink("../libs/localdep", root / "vendor" / "localdep")
    sources = envs if envs is not None else {"dev": env_source("dev", 1), "prd": env_source("prd")}
    write_files(root, {f"environments/{n}.jsonnet": s for n, s in sources.items()})
    return root


def set_env(root: Path, env: str, source: str) -> Path:
    """(Re)write one environment file; returns its path."""
    path = root / "environments" / f"{env}.jsonnet"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    return path


def objects_env(objects: Mapping[str, object]) -> str:
    """An environment whose output is exactly ``objects`` (as JSON text, which is jsonnet)."""
    return json.dumps(objects, indent=1) + "\n"


def make_jpath_project(root: Path) -> Path:
    """Tanka-style precedence layout: each dir has files that evaluate to the dir's own name."""
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    layout = {
        "environments": ["a"],
        "jsonnet": ["a", "b"],
        "vendor": ["a", "b", "c"],
        "extra": ["a", "b", "c", "d"],
    }
    for folder, names in layout.items():
        write_files(root, {f"{folder}/{n}.libsonnet": f"'{folder}'\n" for n in names})
    set_env(
        root,
        "which",
        "{ which: { a: import 'a.libsonnet', b: import 'b.libsonnet',\n"
        "           c: import 'c.libsonnet', d: import 'd.libsonnet' } }\n",
    )
    return root


def many_large_env(count: int, size: int) -> str:
    """An environment with ``count`` ConfigMaps of about ``size`` bytes each (for crash tests)."""
    filler = "x" * 100
    return (
        "{ ['cm-%04d' % i]: { apiVersion: 'v1', kind: 'ConfigMap',\n"
        "  metadata: { name: 'cm' + i },\n"
        f"  data: {{ ['k%d' % j]: '{filler}' + std.toString(i * j)\n"
        f"          for j in std.range(0, {size // 120}) }} }}\n"
        f"  for i in std.range(0, {count - 1}) }}\n"
    )
