"""Mutation tests: break a valid built environment in one way, and validation must say exactly
that, at the right file, object and JSON path, and nothing else.

The environment is built once by the real ``kpb build`` from :mod:`tests.helpers.validproject`
(Kubernetes objects, a Secret, and a ServiceMonitor with its CRD in ``setup/``); each mutation
rewrites one file of a copy of ``manifests/dev/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeprom_build import validation
from kubeprom_build.cli import run
from tests.helpers import validproject

DEPLOY = "demo-deployment.yaml"
SERVICE = "demo-service.yaml"
MONITOR = "demo-serviceMonitor.yaml"
SECRET_FILE = "alertmanager-secret.yaml"
CONFIGMAP = "demo-configmap.yaml"
CRD_FILE = "setup/0servicemonitorCustomResourceDefinition.yaml"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``manifests/dev`` of the valid project, built once by ``kpb build --validate``."""
    project = validproject.make_project(tmp_path_factory.mktemp("valid") / "project")
    assert run(["-C", str(project), "-q", "build", "dev", "--validate"]) == 0
    return project / "manifests" / "dev"


@pytest.fixture
def tree(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "dev"
    shutil.copytree(built, copy)
    return copy


def _edit(tree: Path, file: str, change: Callable[[dict[str, Any]], None]) -> None:
    path = tree / file
    obj = yaml.safe_load(path.read_text())
    change(obj)
    path.write_text(yaml.safe_dump(obj))


@dataclass(frozen=True)
class Mutation:
    name: str
    file: str
    change: Callable[[dict[str, Any]], None] | str  # a str replaces the file's text
    ref: str
    path: str
    message: str
    check: str
    severity: str = "error"


def _container(obj: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = obj["spec"]["template"]["spec"]["containers"][0]
    return container


CONTAINERS = "$.spec.template.spec.containers[0]"
MUTATIONS = [
    Mutation(
        "wrong type",
        DEPLOY,
        lambda o: o["spec"].update(replicas="three"),
        "Deployment/monitoring/demo",
        "$.spec.replicas",
        "expected integer, got string",
        "schemas",
    ),
    Mutation(
        "unknown field under a strict schema",
        DEPLOY,
        lambda o: _container(o).update(imagePullPolicyy="Always"),
        "Deployment/monitoring/demo",
        f"{CONTAINERS}.imagePullPolicyy",
        "unknown field 'imagePullPolicyy'",
        "schemas",
    ),
    Mutation(
        "missing required field",
        DEPLOY,
        lambda o: o["spec"].pop("selector"),
        "Deployment/monitoring/demo",
        "$.spec",
        "missing required field 'selector'",
        "schemas",
    ),
    Mutation(
        "missing required field in a list item",
        SERVICE,
        lambda o: o["spec"]["ports"][0].pop("port"),
        "Service/monitoring/demo",
        "$.spec.ports[0]",
        "missing required field 'port'",
        "schemas",
    ),
    Mutation(
        "int-or-string given a list",
        SERVICE,
        lambda o: o["spec"]["ports"][0].update(targetPort=["http"]),
        "Service/monitoring/demo",
        "$.spec.ports[0].targetPort",
        "expected string or integer, got array",
        "schemas",
    ),
    Mutation(
        "apiVersion no longer served",
        DEPLOY,
        lambda o: o.update(apiVersion="apps/v1beta1"),
        "Deployment/monitoring/demo",
        "$.apiVersion",
        "does not serve Deployment in apps/v1beta1; it serves Deployment as apps/v1",
        "schemas",
    ),
    Mutation(
        "misspelt kind",
        DEPLOY,
        lambda o: o.update(kind="Deploymnet"),
        "Deploymnet/monitoring/demo",
        "$.kind",
        "has no kind Deploymnet in apps/v1",
        "schemas",
    ),
    Mutation(
        "missing apiVersion",
        CONFIGMAP,
        lambda o: o.pop("apiVersion"),
        "ConfigMap/monitoring/demo-config",
        "$.apiVersion",
        "missing or empty 'apiVersion'",
        "schemas",
    ),
    Mutation(
        "invalid YAML file",
        CONFIGMAP,
        "apiVersion: v1\nkind: ConfigMap\ndata:\n  webhook: [" + validproject.SECRET + "\n",
        "-",
        "$",
        "invalid YAML at line 5",
        "documents",
    ),
    Mutation(
        "a document that is not an object",
        CONFIGMAP,
        "- just\n- a list\n",
        "-",
        "$",
        "document 1 is a list, not a Kubernetes object",
        "documents",
    ),
    Mutation(
        "CR field not in its CRD",
        MONITOR,
        lambda o: o["spec"].update(sampleLimitt=10),
        "ServiceMonitor/monitoring/demo",
        "$.spec.sampleLimitt",
        "unknown field 'sampleLimitt'",
        "crds",
    ),
    Mutation(
        "CR field of the wrong type",
        MONITOR,
        lambda o: o["spec"]["endpoints"][0].update(interval=30),
        "ServiceMonitor/monitoring/demo",
        "$.spec.endpoints[0].interval",
        "expected string, got integer",
        "crds",
    ),
    Mutation(
        "CR value against the CRD's pattern",
        MONITOR,
        lambda o: o["spec"]["endpoints"][0].update(interval="thirty seconds"),
        "ServiceMonitor/monitoring/demo",
        "$.spec.endpoints[0].interval",
        "does not match the pattern",
        "crds",
    ),
    Mutation(
        "CR missing a field its CRD requires",
        MONITOR,
        lambda o: o["spec"].pop("selector"),
        "ServiceMonitor/monitoring/demo",
        "$.spec",
        "missing required field 'selector'",
        "crds",
    ),
    Mutation(
        "CR int-or-string given an object",
        MONITOR,
        lambda o: o["spec"]["endpoints"][0].update(targetPort={"port": 1}),
        "ServiceMonitor/monitoring/demo",
        "$.spec.endpoints[0].targetPort",
        "expected integer or string, got object",
        "crds",
    ),
    Mutation(
        "CR version its CRD does not serve",
        MONITOR,
        lambda o: o.update(apiVersion="monitoring.coreos.com/v1beta1"),
        "ServiceMonitor/monitoring/demo",
        "$.apiVersion",
        "does not serve v1beta1 (served: v1)",
        "crds",
    ),
    Mutation(
        "kind no CRD of its group defines",
        MONITOR,
        lambda o: o.update(kind="PodMonitor"),
        "PodMonitor/monitoring/demo",
        "$.kind",
        "no CRD defines kind PodMonitor in monitoring.coreos.com",
        "crds",
    ),
    Mutation(
        "unknown kind (a warning)",
        CONFIGMAP,
        lambda o: o.update(apiVersion="example.com/v1", kind="Widget"),
        "Widget/monitoring/demo-config",
        "$.kind",
        "unknown kind Widget (example.com/v1)",
        "crds",
        "warning",
    ),
    Mutation(
        "the CRD itself broken",
        CRD_FILE,
        lambda o: o["spec"].update(scope=7),
        "CustomResourceDefinition/servicemonitors.monitoring.coreos.com",
        "$.spec.scope",
        "expected string, got integer",
        "schemas",
    ),
    Mutation(
        "Secret value of the wrong type",
        SECRET_FILE,
        lambda o: o["stringData"].update(slack_url=[validproject.SECRET]),
        "Secret/monitoring/alertmanager-main",
        "$.stringData.slack_url",
        "expected string, got array",
        "schemas",
    ),
    Mutation(
        "ConfigMap value against an enum-free type",
        CONFIGMAP,
        lambda o: o.update(immutable=validproject.SECRET),
        "ConfigMap/monitoring/demo-config",
        "$.immutable",
        "expected boolean, got string",
        "schemas",
    ),
]


def test_the_valid_environment_has_no_findings(built: Path) -> None:
    result = validation.validate_directory("dev", built, validation.Options(strict=True))
    assert result.findings == ()
    assert result.objects == 7
    assert not result.failed


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_is_caught_where_it_is_and_nothing_else(
    tree: Path, mutation: Mutation
) -> None:
    if isinstance(mutation.change, str):
        (tree / mutation.file).write_text(mutation.change)
    else:
        _edit(tree, mutation.file, mutation.change)
    result = validation.validate_directory("dev", tree, validation.Options())
    assert len(result.findings) == 1, [f.line("dev") for f in result.findings]
    found = result.findings[0]
    assert (found.file, found.ref, found.path) == (mutation.file, mutation.ref, mutation.path)
    assert mutation.message in found.message
    assert (found.check, found.severity.value) == (mutation.check, mutation.severity)
    assert validproject.SECRET not in found.line("dev")
    assert result.failed == (mutation.severity == "error")


def test_strict_makes_an_unknown_kind_an_error(tree: Path) -> None:
    _edit(tree, CONFIGMAP, lambda o: o.update(apiVersion="example.com/v1", kind="Widget"))
    result = validation.validate_directory("dev", tree, validation.Options(strict=True))
    assert [(f.path, f.severity.value) for f in result.findings] == [("$.kind", "error")]
    assert result.failed


def test_a_crd_dir_supplies_a_crd_the_build_lacks(tree: Path, tmp_path: Path) -> None:
    """Without its CRD a ServiceMonitor is an unknown kind; a --crd-dir copy validates it."""
    crds = tmp_path / "crds"
    crds.mkdir()
    (tree / CRD_FILE).rename(crds / "servicemonitor.yaml")
    _edit(tree, MONITOR, lambda o: o["spec"].update(sampleLimitt=10))
    alone = validation.validate_directory("dev", tree, validation.Options())
    assert [f.message.split(" (")[0] for f in alone.findings] == ["unknown kind ServiceMonitor"]
    helped = validation.validate_directory("dev", tree, validation.Options(crd_dirs=(crds,)))
    assert [(f.path, f.check) for f in helped.findings] == [("$.spec.sampleLimitt", "crds")]
    assert "servicemonitor.yaml" in helped.findings[0].message


def test_the_kubernetes_version_decides_what_is_served(tree: Path) -> None:
    """flowcontrol v1beta3 was served up to 1.31 and removed in 1.32."""
    (tree / "flow.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "flowcontrol.apiserver.k8s.io/v1beta3",
                "kind": "FlowSchema",
                "metadata": {"name": "f"},
                "spec": {"priorityLevelConfiguration": {"name": "p"}},
            }
        )
    )
    old = validation.validate_directory("dev", tree, validation.Options(kube_version="1.31"))
    new = validation.validate_directory("dev", tree, validation.Options(kube_version="1.32"))
    assert old.findings == ()
    assert [f.path for f in new.findings] == ["$.apiVersion"]


def test_a_list_kind_is_expanded_and_items_are_checked(tree: Path) -> None:
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}, "data": {"k": 1}},
    ]
    (tree / "list.yaml").write_text(
        yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})
    )
    result = validation.validate_directory("dev", tree, validation.Options())
    assert [(f.file, f.ref, f.path) for f in result.findings] == [
        ("list.yaml", "ConfigMap/b", "$.data.k")
    ]
    assert result.objects == 9


def test_a_symlink_in_the_tree_is_reported_not_followed(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {k: 1}\n")
    (tree / "link.yaml").symlink_to(outside)
    result = validation.validate_directory("dev", tree, validation.Options())
    assert [(f.file, f.check) for f in result.findings] == [("link.yaml", "documents")]
    assert "not a regular file" in result.findings[0].message


def test_a_billion_laughs_file_is_refused_not_expanded(tree: Path) -> None:
    """Nine levels of ten aliases: 10^9 leaves once expanded; reading must stay instant."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: lol}", "l0: &l0 [lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 10)]
    (tree / "lol.yaml").write_text("\n".join(lines) + "\n")
    result = validation.validate_directory("dev", tree, validation.Options())
    assert [(f.file, f.check) for f in result.findings] == [("lol.yaml", "documents")]
    assert "aliases" in result.findings[0].message


@pytest.mark.parametrize("value", ["{1: one}", "!!binary aGVsbG8=", "!!set {a, b}"])
def test_a_value_json_cannot_hold_is_one_finding(tree: Path, value: str) -> None:
    """YAML can say more than JSON; such an object is reported, not a crash (exit 70)."""
    config = tree / CONFIGMAP
    config.write_text(config.read_text() + f"extra: {value}\n")
    result = validation.validate_directory("dev", tree, validation.Options())
    assert [(f.file, f.path) for f in result.findings] == [(CONFIGMAP, "$")]
    assert "JSON cannot represent" in result.findings[0].message
