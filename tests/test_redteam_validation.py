"""Red-team findings on validation: secrets in messages and routing tables, crashes on input.

- An unquoted password beginning with ``!`` or ``*`` (``auth_password: !Hunter2``) is a YAML
  tag or alias; PyYAML's error quotes it, and the Alertmanager and Grafana datasource checks
  put that error in the finding.
- The routing table printed receiver names and matcher values as they are, so a webhook URL
  pasted as a receiver name or a token in an inhibit rule's matcher was shown, although
  findings hide both (``objects.shown``).
- YAML or JSON nested too deeply, or holding an integer past Python's digit limit, raised
  RecursionError or ValueError out of the checks (a traceback, exit 70, in a command).
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kubeprom_build.validation import (
    Finding,
    Manifest,
    alertmanager,
    dashboards,
    explain_routes,
    promrules,
)

PASSWORD = "Hunter2RedTeam"
WEBHOOK = f"https://hooks.slack.com/services/T0/B0/{PASSWORD}"
RECEIVERS = "receivers:\n- name: r\n  email_configs:\n  - to: a@b\n    auth_password: {value}\n"
CONFIG = "route:\n  receiver: r\n" + RECEIVERS


def _secret(name: str, key: str, text: str, *, encoded: bool) -> Manifest:
    data = (
        {"data": {key: base64.b64encode(text.encode()).decode()}}
        if encoded
        else {"stringData": {key: text}}
    )
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, **data}
    return Manifest("secret.yaml", obj)


def _alertmanager(text: str, *, encoded: bool = False) -> list[Manifest]:
    return [_secret("alertmanager-main", "alertmanager.yaml", text, encoded=encoded)]


def _datasources(text: str, *, encoded: bool = False) -> list[Manifest]:
    secret = _secret("grafana-datasources", "datasources.yaml", text, encoded=encoded)
    dashboard = Manifest(
        "dashboards.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "grafana-dashboard-x"},
            "data": {"x.json": json.dumps({"uid": "x", "panels": []})},
        },
    )
    return [secret, dashboard]


def _printed(findings: Iterator[Finding]) -> str:
    return "\n".join(f"{f.file} {f.ref} {f.path} {f.message}" for f in findings)


UNQUOTED = [f"!{PASSWORD}", f"*{PASSWORD}", f"!<{PASSWORD}>", f"!!{PASSWORD}", f"&a *{PASSWORD}"]


@pytest.mark.parametrize("encoded", [False, True])
@pytest.mark.parametrize("value", UNQUOTED)
def test_an_unquoted_alertmanager_password_is_not_quoted_by_a_yaml_error(
    value: str, encoded: bool
) -> None:
    printed = _printed(
        alertmanager.check(_alertmanager(CONFIG.format(value=value), encoded=encoded))
    )
    assert "not valid YAML at line 7" in printed
    assert PASSWORD not in printed, printed


@pytest.mark.parametrize("encoded", [False, True])
@pytest.mark.parametrize("value", UNQUOTED)
def test_an_unquoted_datasource_password_is_not_quoted_by_a_yaml_error(
    value: str, encoded: bool
) -> None:
    text = f"datasources:\n- name: prometheus\n  basicAuthPassword: {value}\n"
    printed = _printed(dashboards.check(_datasources(text, encoded=encoded)))
    assert "not valid YAML at line 3" in printed
    assert PASSWORD not in printed, printed


def test_a_duplicate_key_is_still_named() -> None:
    text = "route:\n  receiver: r\n  receiver: r\nreceivers:\n- name: r\n"
    printed = _printed(alertmanager.check(_alertmanager(text)))
    assert "key 'receiver' already set in this mapping" in printed


def _table(text: str) -> str:
    [table] = explain_routes(_alertmanager(text))
    return "\n".join([repr(table), *(alert.describe() for alert in table.alerts)])


def test_a_webhook_url_used_as_a_receiver_name_is_not_in_the_routing_table() -> None:
    text = (
        f"route:\n  receiver: '{WEBHOOK}'\n"
        f"receivers:\n- name: '{WEBHOOK}'\n  slack_configs:\n  - api_url: '{WEBHOOK}'\n"
    )
    table = _table(text)
    assert 'severity="critical" → (a receiver not shown)' in table
    assert PASSWORD not in table, table


def test_a_url_in_a_matcher_is_not_in_the_routing_table() -> None:
    text = (
        "route:\n  receiver: r\n  routes:\n"
        f"  - receiver: r\n    matchers: ['severity=\"critical\"', 'hook=\"{WEBHOOK}\"']\n"
        f"inhibit_rules:\n- source_matchers: ['hook=\"{WEBHOOK}\"']\n  target_matchers: []\n"
        "receivers:\n- name: r\n"
    )
    table = _table(text)
    assert "inhibited by: hook=(not shown)" in table
    assert PASSWORD not in table, table


def test_names_and_plain_matchers_are_still_shown() -> None:
    text = (
        "route:\n  receiver: team-a\n  routes:\n"
        "  - receiver: team-b\n    matchers: ['alertname=\"Watchdog\"', 'team=\"b\"']\n"
        "inhibit_rules:\n- source_matchers: ['severity=\"critical\"']\n  equal: [namespace]\n"
        "receivers:\n- name: team-a\n- name: team-b\n"
    )
    table = _table(text)
    assert 'alertname="Watchdog", team="b" → team-b' in table
    assert 'inhibited by: severity="critical" (equal: namespace)' in table


DEEP_YAML = "route: " + "[" * 50_000 + "]" * 50_000 + "\n"
DEEP_MAP = "route: " + "{a: " * 3_000 + "1" + "}" * 3_000 + "\n"
HUGE_INT = "route:\n  receiver: r\n  group_wait: " + "9" * 10_000 + "\nreceivers:\n- name: r\n"


@pytest.mark.parametrize(
    ("text", "why"),
    [(DEEP_YAML, "nested too deeply"), (DEEP_MAP, "nested too deeply"), (HUGE_INT, "digits")],
)
def test_hostile_yaml_is_a_finding_not_a_crash(text: str, why: str) -> None:
    manifests = _alertmanager(text)
    assert why in _printed(alertmanager.check(manifests))
    assert explain_routes(manifests) == []
    datasources = _datasources(text.replace("route:", "datasources:"))
    assert why in _printed(dashboards.check(datasources))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"panels":' + '[{"panels":' * 3_000 + "[]" + "}]" * 3_000 + "}", "nested too deeply"),
        ('{"uid": ' + "9" * 100_000 + "}", "digits"),
    ],
)
def test_a_hostile_dashboard_is_a_finding_not_a_crash(body: str, why: str) -> None:
    manifests: list[Any] = _datasources("datasources: []\n")
    manifests[1] = Manifest(
        "dashboards.yaml",
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "grafana-dashboard-x"},
            "data": {"x.json": body},
        },
    )
    assert why in _printed(dashboards.check(manifests))


def _bomb(levels: int) -> str:
    """A YAML alias bomb: ``levels`` lists of nine references to the list before."""
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    "use",
    [
        "route:\n  receiver: r\n  group_by: *l7\n",
        "route:\n  receiver: r\ninhibit_rules:\n- equal: *l7\n",
        "route:\n  receiver: r\n  routes: *l7\n",
    ],
)
def test_a_yaml_alias_bomb_is_not_expanded(use: str) -> None:
    """Nine to the eighth (43 million) references: turning them into text took seconds per
    level, and one level more needs gigabytes."""
    manifests = _alertmanager(_bomb(8) + use + "receivers:\n- name: r\n")
    started = time.perf_counter()
    findings = list(alertmanager.check(manifests))
    explain_routes(manifests)
    assert time.perf_counter() - started < 3
    assert findings


PROMQL_CRASH = [
    "(" * 10_000 + "1" + ")" * 10_000,  # SIGSEGV in the native parser
    "sum(" * 50_000 + "x" + ")" * 50_000,  # minutes
    "1+" * 8_000 + "1",  # SIGSEGV
    "x or " * 20_000 + "x",  # minutes
]


@pytest.mark.parametrize("expr", PROMQL_CRASH, ids=["parens", "sum", "plus", "or"])
def test_a_hostile_promql_expression_is_not_given_to_the_parser(expr: str) -> None:
    """In a child process: the old code killed it with SIGSEGV or ran for minutes."""
    code = (
        "import sys\n"
        "from kubeprom_build.validation import Manifest\n"
        "from kubeprom_build.validation.promrules import check\n"
        "rule = {'alert': 'A', 'expr': sys.stdin.read()}\n"
        "obj = {'apiVersion': 'monitoring.coreos.com/v1', 'kind': 'PrometheusRule',\n"
        "       'metadata': {'name': 'r'}, 'spec': {'groups': [{'name': 'g', 'rules': [rule]}]}}\n"
        "for f in check([Manifest('r.yaml', obj)]):\n"
        "    print(f.severity.value, f.message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=expr, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("warning PromQL not checked:"), done.stdout


def test_a_long_real_world_expression_is_still_parsed() -> None:
    expr = " or ".join(f'up{{job="j{i}"}} == 0' for i in range(300))  # 6,000 characters
    obj = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "r"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": expr + " +"}]}]},
    }
    [finding] = promrules.check([Manifest("r.yaml", obj)])
    assert finding.message.startswith("invalid PromQL")
