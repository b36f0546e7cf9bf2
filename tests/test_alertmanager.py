"""The Alertmanager check on the stack's real routing config, its routing table, and secrets.

The config comes from jsonnet/lib/alertmanager.libsonnet itself (evaluated as
tests/test_stack_libs.py does), with inline webhook URLs, so the expected routing table below is
the stack's: it changes only when the routing does.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeprom_build.rendering.engine import available_engines, get_engine
from kubeprom_build.validation import Manifest, RoutedAlert, explain_routes
from kubeprom_build.validation.alertmanager import check
from tests.helpers.manifests import documents

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "validation" / "alertmanager-secret.yaml"
SECRET_URL = "https://hooks.slack.com/services/T0SECRET/B0SECRET/xoxb-SECRET-TOKEN"
SECRET_MARKERS = ("T0SECRET", "SECRET-TOKEN", "hooks.slack.com", "do-not-print")
ENGINE = next(e for e in ("rs", "go") if e in available_engines())


def stack_config(tmp_path: Path) -> dict[str, Any]:
    main = tmp_path / "main.jsonnet"
    main.write_text(
        "(import 'lib/alertmanager.libsonnet').config({ slack: {"
        " critical: { channel: '#crit' }, warning: { channel: '#warn' },"
        " watchdog: { channel: '#dog' } } },"
        f" function(level) {{ api_url: '{SECRET_URL}-' + level }})",
        encoding="utf-8",
    )
    config: dict[str, Any] = json.loads(get_engine(ENGINE).evaluate(main, jpath=[ROOT / "jsonnet"]))
    return config


def secret(config: Any, *, encoded: bool = False) -> list[Manifest]:
    text = config if isinstance(config, str) else yaml.safe_dump(config)
    data = (
        {"data": {"alertmanager.yaml": base64.b64encode(text.encode()).decode()}}
        if encoded
        else {"stringData": {"alertmanager.yaml": text}}
    )
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "alertmanager-main", "namespace": "monitoring"},
        **data,
    }
    return [Manifest("alertmanager-secret.yaml", obj)]


def row(label: str, value: str, receivers: tuple[str, ...], *inhibit: str) -> RoutedAlert:
    nowhere = receivers == ("silent-receiver",)
    return RoutedAlert(((label, value),), receivers, nowhere, inhibit)


CRITICAL_INHIBITS = 'severity="critical" (equal: namespace, alertname)'
WARNING_INHIBITS = 'severity="warning" (equal: namespace, alertname)'
INFO_INHIBITOR = 'alertname="InfoInhibitor" (equal: namespace)'
STACK_TABLE = (
    row("severity", "critical", ("slack-critical",)),
    row("severity", "warning", ("slack-warning",), CRITICAL_INHIBITS),
    row(
        "severity", "info", ("slack-warning",), CRITICAL_INHIBITS, WARNING_INHIBITS, INFO_INHIBITOR
    ),
    row("severity", "none", ("slack-critical",)),
    row("alertname", "Watchdog", ("slack-watchdog",)),
    row("alertname", "KubeCPUOvercommit", ("silent-receiver",)),
    row("alertname", "CPUThrottlingHigh", ("silent-receiver",)),
    row("alertname", "KubeVersionMismatch", ("silent-receiver",)),
    row("alertname", "InfoInhibitor", ("silent-receiver",)),
)


def test_the_stacks_config_is_valid_and_routes_as_designed(tmp_path: Path) -> None:
    manifests = secret(stack_config(tmp_path))
    assert list(check(manifests)) == []
    [table] = explain_routes(manifests)
    assert (table.file, table.ref, table.path) == (
        "alertmanager-secret.yaml",
        "Secret/monitoring/alertmanager-main",
        "$.stringData['alertmanager.yaml']",
    )
    assert table.alerts == STACK_TABLE
    assert not any(marker in repr(table) for marker in SECRET_MARKERS)


def test_base64_data_reads_the_same(tmp_path: Path) -> None:
    config = stack_config(tmp_path)
    config["route"]["routes"][0]["receiver"] = "missing"
    [finding] = check(secret(config, encoded=True))
    assert finding.path == "$.data['alertmanager.yaml'].route.routes[0].receiver"
    obj = {"apiVersion": "v1", "kind": "Secret", "data": {"alertmanager.yaml": "bm90IHV0Zi04\xff"}}
    [bad] = check([Manifest("s.yaml", obj)])
    assert (bad.path, bad.message) == (
        "$.data['alertmanager.yaml']",
        "alertmanager.yaml is not valid base64-encoded UTF-8",
    )


def test_continue_reaches_every_matching_receiver() -> None:
    manifests = [Manifest(FIXTURE.name, documents(FIXTURE)[0])]
    [table] = explain_routes(manifests)
    critical = table.alerts[0]
    assert critical.labels == (("severity", "critical"),)
    assert critical.receivers == ("slack-critical", "pager")
    assert critical.nowhere is False


def test_an_invalid_config_gets_no_routing_table(tmp_path: Path) -> None:
    config = stack_config(tmp_path)
    config["receivers"].pop()
    assert explain_routes(secret(config)) == []


ROOT_RULES = [
    ({"route": {"routes": []}, "receivers": []}, "$.route", "must name a default receiver"),
    (
        {"route": {"receiver": "a", "matchers": ["a=b"]}, "receivers": [{"name": "a"}]},
        "$.route",
        "must not have matchers",
    ),
    (
        {"route": {"receiver": "a", "continue": True}, "receivers": [{"name": "a"}]},
        "$.route.continue",
        "cannot have continue",
    ),
    ({"receivers": [{"name": "a"}]}, "$", "no route provided"),
    ("route: {receiver: a}\nroute: {receiver: b}\n", "$", "key 'route' already set"),
    ("- a\n", "$", "must hold a mapping"),
    (
        {"route": {"receiver": "a", "group_by": ["x", "x", "..."]}, "receivers": [{"name": "a"}]},
        "$.route.group_by",
        "cannot be combined",
    ),
    (
        {"route": {"receiver": "a", "repeat_interval": "0h"}, "receivers": [{"name": "a"}]},
        "$.route.repeat_interval",
        "cannot be zero",
    ),
    (
        {
            "route": {"receiver": "a", "routes": [{"mute_time_intervals": ["night"]}]},
            "receivers": [{"name": "a"}],
        },
        "$.route.routes[0].mute_time_intervals[0]",
        "undefined time interval 'night'",
    ),
]


@pytest.mark.parametrize(("config", "path", "message"), ROOT_RULES)
def test_what_config_load_refuses(config: Any, path: str, message: str) -> None:
    findings = list(check(secret(config)))
    assert message in findings[0].message
    assert findings[0].path == "$.stringData['alertmanager.yaml']" + path[1:]


HOSTILE = [
    {"route": {"receiver": "a"}, "receivers": [{"name": "a", "slack_configs": SECRET_URL}]},
    {"route": {"receiver": "a"}, "receivers": SECRET_URL},
    {"route": {"receiver": "a", "group_wait": SECRET_URL}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a", "group_by": SECRET_URL}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": {"url": SECRET_URL}}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a", "routes": [{"matchers": [{"x": SECRET_URL}]}]}, "receivers": []},
    {"route": {"receiver": "a", "routes": [SECRET_URL]}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a"}, "receivers": [{"name": "a", "x": SECRET_URL}]},
    {"route": {"receiver": "a"}, "global": SECRET_URL, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a"}, "global": {"resolve_timeout": SECRET_URL}, "receivers": []},
    {"route": {"receiver": "a", "mute_time_intervals": [{"u": SECRET_URL}]}, "receivers": []},
    {"route": {"receiver": "a"}, "inhibit_rules": [{"equal": [SECRET_URL]}], "receivers": []},
    {"route": {"receiver": "a"}, "inhibit_rules": SECRET_URL, "receivers": [{"name": "a"}]},
    f"route: {{receiver: a}}\nreceivers:\n- name: a\n  slack_configs:\n  - api_url: '{SECRET_URL}",
    f"route: {{receiver: a}}\nglobal:\n  slack_api_url: {SECRET_URL}\n  slack_api_url: x\n",
    f"route: {{receiver: a}}\nreceivers: [{{name: a, slack_configs: [{{api_url: {SECRET_URL}\n",
    f"{SECRET_URL}: [\n",
    f"route: {{receiver: a}}\n{SECRET_URL}: 1\n{SECRET_URL}: 2\n",
    {"route": {"receiver": "a", "match": {SECRET_URL: "x"}}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a", "matchers": [f"a=~{SECRET_URL}("]}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": "a", "matchers": [SECRET_URL]}, "receivers": [{"name": "a"}]},
    {"route": {"receiver": SECRET_URL}, "receivers": [{"name": SECRET_URL}, {"name": SECRET_URL}]},
    f"route:\n\treceiver: {SECRET_URL}\n",
]


@pytest.mark.parametrize("config", HOSTILE)
def test_no_finding_or_table_ever_quotes_a_secret(config: Any) -> None:
    for manifests in (secret(config), secret(config, encoded=True)):
        findings = list(check(manifests))
        assert findings, "each hostile config is invalid"
        shown = repr(findings) + repr(explain_routes(manifests))
        assert not any(marker in shown for marker in SECRET_MARKERS), shown


def test_a_named_alert_carries_its_routes_other_labels() -> None:
    config = {
        "route": {
            "receiver": "default",
            "routes": [
                {
                    "receiver": "team",
                    "match": {"team": "a"},
                    "routes": [
                        {"receiver": "dog", "matchers": ["alertname=Watchdog", "severity=none"]},
                    ],
                },
            ],
        },
        "receivers": [{"name": "default"}, {"name": "team"}, {"name": "dog"}],
    }
    [table] = explain_routes(secret(config))
    watchdog = table.alerts[-1]
    assert watchdog.labels == (("alertname", "Watchdog"), ("severity", "none"), ("team", "a"))
    assert watchdog.receivers == ("dog",)
    assert watchdog.describe() == (
        'alertname="Watchdog", severity="none", team="a" → dog'
        " (no integration: the alert goes nowhere)"
    )


def test_a_row_describes_itself_in_one_line(tmp_path: Path) -> None:
    [table] = explain_routes(secret(stack_config(tmp_path)))
    assert [row.describe() for row in table.alerts[2:4]] == [
        'severity="info" → slack-warning; inhibited by: '
        f"{CRITICAL_INHIBITS}; {WARNING_INHIBITS}; {INFO_INHIBITOR}",
        'severity="none" → slack-critical',
    ]


def test_an_inhibit_rule_without_targets_silences_every_alert() -> None:
    config = {
        "route": {"receiver": "a"},
        "receivers": [{"name": "a"}],
        "inhibit_rules": [{"source_matchers": ["alertname=Maintenance"]}],
    }
    [table] = explain_routes(secret(config))
    assert {row.inhibited_by for row in table.alerts} == {('alertname="Maintenance"',)}
