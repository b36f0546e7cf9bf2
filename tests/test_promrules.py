"""PrometheusRule checks beyond the mutation table: grammar edges and what is not reported."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprom_build.validation import Manifest, Severity
from kubeprom_build.validation.objects import duration_error
from kubeprom_build.validation.promrules import check


def rules(*rules: dict[str, Any], **group: Any) -> list[Manifest]:
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r", "namespace": "ns"},
        "spec": {"groups": [{"name": "g", "rules": list(rules), **group}]},
    }
    return [Manifest("r.yaml", obj)]


def found(manifests: list[Manifest]) -> list[tuple[str, str, Severity]]:
    return [(f.path, f.message, f.severity) for f in check(manifests)]


@pytest.mark.parametrize("value", ["0", "5m", "1h30m", "1y2w3d4h5m6s7ms", "90s", "0s", "01m"])
def test_prometheus_durations(value: str) -> None:
    assert duration_error(value) is None


@pytest.mark.parametrize("value", ["", "5", "1.5h", "5m1h", "5m5m", "-5m", "5M", " 5m", "5 m"])
def test_not_prometheus_durations(value: str) -> None:
    assert duration_error(value) is not None
    assert value.strip() == "" or value.strip() not in str(duration_error(value))


def test_a_severity_ladder_and_a_split_record_are_not_duplicates() -> None:
    ladder = [
        {"alert": "A", "expr": "x > 1", "labels": {"severity": "warning"}},
        {"alert": "A", "expr": "x > 2", "labels": {"severity": "critical"}},
        {"record": "r:x", "expr": 'x{code=~"2.."}'},
        {"record": "r:x", "expr": 'x{code=~"5.."}'},
    ]
    assert found(rules(*ladder)) == []
    copied = [*ladder, {"record": "r:x", "expr": 'x{code=~"5.."}\n'}]
    assert found(rules(*copied)) == [
        (
            "$.spec.groups[0].rules[4].record",
            "record 'r:x' repeats rules[3] with the same labels and expression",
            Severity.WARNING,
        )
    ]


def test_record_and_alert_are_exclusive() -> None:
    assert found(rules({"expr": "up"}))[0][:2] == (
        "$.spec.groups[0].rules[0]",
        "one of 'record' or 'alert' must be set",
    )
    both = found(rules({"alert": "A", "record": "r", "expr": "up"}))
    assert [f[1] for f in both] == ["only one of 'record' and 'alert' may be set"]


def test_recording_rule_labels_are_not_templates() -> None:
    assert found(rules({"record": "r", "expr": "up", "labels": {"x": "{{ not a template"}})) == []


def test_utf8_names_are_warnings_and_reserved_ones_errors() -> None:
    rule = {
        "alert": "A",
        "expr": "up",
        "labels": {"service.name": "x", "__name__": "y"},
        "annotations": {"": "z"},
    }
    assert [(path, severity) for path, _, severity in found(rules(rule))] == [
        ("$.spec.groups[0].rules[0].labels['service.name']", Severity.WARNING),
        ("$.spec.groups[0].rules[0].labels.__name__", Severity.ERROR),
        ("$.spec.groups[0].rules[0].annotations['']", Severity.ERROR),
    ]


def test_numbers_are_valid_expressions_and_bad_regexes_are_not() -> None:
    assert found(rules({"alert": "A", "expr": 1})) == []
    bad = found(rules({"alert": "A", "expr": 'up{job=~"("}'}))
    assert [(p, "invalid PromQL" in m) for p, m, _ in bad] == [
        ("$.spec.groups[0].rules[0].expr", True)
    ]


@pytest.mark.parametrize(
    "spec",
    [None, "text", {"groups": "x"}, {"groups": [None, 1, {"rules": "x"}, {"rules": [None, 3]}]}],
)
def test_shapes_a_schema_rejects_are_left_to_the_schema_check(spec: Any) -> None:
    obj = {"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule", "spec": spec}
    assert list(check([Manifest("r.yaml", obj)])) == []


def test_other_kinds_and_groups_are_ignored() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "PrometheusRule", "spec": {"groups": [{}]}}
    assert list(check([Manifest("r.yaml", obj)])) == []
