"""Dashboard checks beyond the mutation table: what resolves, what is only a warning."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubeprom_build.validation import Manifest, Severity
from kubeprom_build.validation.dashboards import check


def dashboard(body: Any, name: str = "grafana-dashboard-x", key: str = "x.json") -> Manifest:
    text = body if isinstance(body, str) else json.dumps(body)
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "monitoring"},
        "data": {key: text},
    }
    return Manifest(f"{name}.yaml", obj)


def datasources(text: str) -> Manifest:
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "grafana-datasources", "namespace": "monitoring"},
        "stringData": {"datasources.yaml": text},
    }
    return Manifest("grafana-datasources.yaml", obj)


PROMETHEUS = datasources("datasources: [{name: prometheus, uid: prom-uid, type: prometheus}]")


def panel(reference: Any, *variables: str) -> dict[str, Any]:
    return {
        "panels": [{"datasource": reference}],
        "templating": {"list": [{"name": v, "type": "datasource"} for v in variables]},
    }


@pytest.mark.parametrize(
    ("reference", "variables"),
    [
        ("prometheus", ()),
        ({"type": "prometheus", "uid": "prom-uid"}, ()),
        ({"uid": "prometheus"}, ()),  # Grafana falls back from uid to name
        ({"type": "prometheus"}, ()),  # the default datasource of a type
        (None, ()),
        ("default", ()),
        ({"uid": "grafana"}, ()),
        ("-- Mixed --", ()),
        ("$ds", ("ds",)),
        ("${ds}", ("ds",)),
        ("${ds:raw}", ("ds",)),
        ("[[ds]]", ("ds",)),
    ],
)
def test_references_grafana_resolves(reference: Any, variables: tuple[str, ...]) -> None:
    assert list(check([PROMETHEUS, dashboard(panel(reference, *variables))])) == []


@pytest.mark.parametrize(
    ("reference", "says"),
    [
        ("Prometheus", "datasource 'Prometheus' is neither"),  # names are case-sensitive
        ({"uid": "other"}, "datasource 'other' is neither"),
        ("$ds", "$ds is not declared"),
        ({"uid": "${DS_PROMETHEUS}"}, "$DS_PROMETHEUS is not declared"),
    ],
)
def test_references_grafana_cannot_resolve(reference: Any, says: str) -> None:
    [finding] = check([PROMETHEUS, dashboard(panel(reference))])
    assert finding.path == "$.data['x.json'].panels[0].datasource"
    assert says in finding.message


def test_without_a_datasources_secret_only_variables_are_checked() -> None:
    found = list(check([dashboard(panel("anything")), dashboard(panel("$v"), key="y.json")]))
    assert [(f.path, f.severity) for f in found] == [
        ("$.data['x.json']", Severity.WARNING),
        ("$.data['y.json'].panels[0].datasource", Severity.ERROR),
    ]


def test_uids_follow_grafanas_rules() -> None:
    found = list(check([PROMETHEUS, dashboard({"uid": "x" * 41}), dashboard({"uid": "a b"})]))
    assert [f.path for f in found] == ["$.data['x.json'].uid"] * 2
    assert "at most 40" in found[0].message


def test_which_configmaps_hold_dashboards() -> None:
    broken = "{"
    labelled = dashboard(broken, name="team")
    labelled.obj["metadata"]["labels"] = {"grafana_dashboard": "1"}  # type: ignore[index]
    found = list(check([dashboard(broken), labelled, dashboard(broken, name="other")]))
    assert [f.ref for f in found] == [
        "ConfigMap/monitoring/grafana-dashboard-x",
        "ConfigMap/monitoring/team",
    ]
    assert list(check([dashboard(broken, key="x.txt")])) == []
    [not_object] = check([dashboard("[1, 2]")])
    assert not_object.message == "a dashboard must be a JSON object"


def test_a_datasource_secret_value_is_never_quoted() -> None:
    text = "datasources:\n- name: a\n  password: 'hunter2-SECRET\n"
    [finding] = check([datasources(text), dashboard(panel("a"))])
    assert finding.ref == "Secret/monitoring/grafana-datasources"
    assert "hunter2" not in repr(finding)
