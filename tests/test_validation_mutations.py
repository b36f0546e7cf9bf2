"""The domain checks over one small, valid environment, then broken one way at a time.

The fixtures (tests/fixtures/validation/) hold a PrometheusRule, the Alertmanager config Secret
in the stack's shape, an AlertmanagerConfig, the Grafana datasources Secret and dashboards. Each
mutation must be reported exactly once, at the right file, object and JSON path, by the right
check, and nothing else may be reported: a check that also flags its neighbours would drown the
real problem. No finding may ever quote a secret from the fixtures.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeprom_build.validation import Finding, Severity, alertmanager, dashboards, promrules
from tests.helpers.manifests import as_manifests, documents

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "validation"
CHECKS = (promrules.check, alertmanager.check, dashboards.check)
SECRETS = (
    "do-not-print",
    "SLACK-TOKEN",
    "T0SECRET",
    "hooks.slack.com",
    "ROUTING-KEY",
    "LOKI-PASSWORD",
    "/etc/alertmanager/secrets",
)
Env = dict[str, list[Any]]

RULES = ("prometheusRule.yaml", "PrometheusRule/monitoring/stack-rules")
AM = ("alertmanager-secret.yaml", "Secret/monitoring/alertmanager-main")
AMC = ("alertmanagerConfig.yaml", "AlertmanagerConfig/team-a/team-a")
NODES = ("grafana.yaml", "ConfigMap/monitoring/grafana-dashboard-nodes")
PODS = ("grafana.yaml", "ConfigMap/monitoring/team-dashboards")
DATASOURCES = ("grafana.yaml", "Secret/monitoring/grafana-datasources")
AM_KEY = "$.stringData['alertmanager.yaml']"
NODES_KEY = "$.data['nodes.json']"


def fixture_env() -> Env:
    return {p.name: documents(p) for p in sorted(FIXTURES.glob("*.yaml"))}


def run(env: Env) -> list[Finding]:
    manifests = as_manifests(env)
    return [finding for check in CHECKS for finding in check(manifests)]


# --- editing the fixtures ----------------------------------------------------------------------


def rule(env: Env, group: int, index: int) -> dict[str, Any]:
    rule: dict[str, Any] = env[RULES[0]][0]["spec"]["groups"][group]["rules"][index]
    return rule


def am(edit: Callable[[dict[str, Any]], None]) -> Callable[[Env], None]:
    """Edit the Alertmanager config inside its Secret (parsed, changed, written back)."""

    def apply(env: Env) -> None:
        data = env[AM[0]][0]["stringData"]
        config = yaml.safe_load(data["alertmanager.yaml"])
        edit(config)
        data["alertmanager.yaml"] = yaml.safe_dump(config)

    return apply


def am_text(edit: Callable[[str], str]) -> Callable[[Env], None]:
    def apply(env: Env) -> None:
        data = env[AM[0]][0]["stringData"]
        data["alertmanager.yaml"] = edit(data["alertmanager.yaml"])

    return apply


def nodes(edit: Callable[[dict[str, Any]], None]) -> Callable[[Env], None]:
    def apply(env: Env) -> None:
        data = env[NODES[0]][1]["data"]
        dashboard = json.loads(data["nodes.json"])
        edit(dashboard)
        data["nodes.json"] = json.dumps(dashboard, indent=2)

    return apply


def setter(path: Callable[[Env], dict[str, Any]], key: str, value: Any) -> Callable[[Env], None]:
    def apply(env: Env) -> None:
        path(env)[key] = value

    return apply


@dataclass(frozen=True)
class Mutation:
    name: str
    apply: Callable[[Env], None]
    where: tuple[str, str]
    path: str
    check: str
    says: str
    severity: Severity = Severity.ERROR


def _dup_group(env: Env) -> None:
    groups = env[RULES[0]][0]["spec"]["groups"]
    groups.append(copy.deepcopy(groups[1]) | {"rules": []})


def _dup_receiver(config: dict[str, Any]) -> None:
    config["receivers"].append({"name": "pager", "webhook_configs": [{"url": "http://x"}]})


def _dashboard_copy(env: Env) -> None:
    env[PODS[0]][2]["data"]["pods.json"] = json.dumps({"uid": "nodes", "panels": []})


def _broken_json(env: Env) -> None:
    env[NODES[0]][1]["data"]["nodes.json"] = '{\n  "uid": "nodes",\n  "panels": [}\n'


def _broken_datasources(env: Env) -> None:
    text = "datasources:\n- name: x\n  secureJsonData: {password: 'LOKI-PASSWORD-do-not-print\n"
    env[DATASOURCES[0]][0]["data"]["datasources.yaml"] = base64.b64encode(text.encode()).decode()


def _unknown_datasource(dashboard: dict[str, Any]) -> None:
    dashboard["panels"][0]["panels"][0]["targets"][0]["datasource"] = {"uid": "thanos"}


def _undeclared_variable(dashboard: dict[str, Any]) -> None:
    dashboard["panels"][2]["datasource"] = "${DS_PROMETHEUS}"


def _cr_route(env: Env) -> None:
    env[AMC[0]][0]["spec"]["route"]["routes"][0]["receiver"] = "team-b"


def _cr_regex(env: Env) -> None:
    env[AMC[0]][0]["spec"]["route"]["matchers"][0]["value"] = "a|(b"


MUTATIONS = [
    Mutation(
        "bad PromQL",
        setter(lambda e: rule(e, 0, 2), "expr", "sum(rate(up[5m]) by (job)"),
        RULES,
        "$.spec.groups[0].rules[2].expr",
        "promrules",
        "invalid PromQL",
    ),
    Mutation(
        "unknown PromQL function",
        setter(lambda e: rule(e, 1, 2), "expr", "1 - avg_over(rate(x[5m]))"),
        RULES,
        "$.spec.groups[1].rules[2].expr",
        "promrules",
        "unknown function",
    ),
    Mutation(
        "bad for duration",
        setter(lambda e: rule(e, 0, 0), "for", "30 minutes"),
        RULES,
        "$.spec.groups[0].rules[0].for",
        "promrules",
        "invalid duration",
    ),
    Mutation(
        "bad group interval",
        setter(lambda e: e[RULES[0]][0]["spec"]["groups"][0], "interval", "1.5m"),
        RULES,
        "$.spec.groups[0].interval",
        "promrules",
        "invalid duration",
    ),
    Mutation(
        "duplicate alert name and labels",
        setter(lambda e: rule(e, 0, 2), "alert", "DiskAlmostFull"),
        RULES,
        "$.spec.groups[0].rules[2].alert",
        "promrules",
        "repeats rules[0]",
        Severity.WARNING,
    ),
    Mutation(
        "duplicate group name",
        _dup_group,
        RULES,
        "$.spec.groups[2].name",
        "promrules",
        "repeats groups[1]",
    ),
    Mutation(
        "invalid record name",
        setter(lambda e: rule(e, 1, 2), "record", "instance:node-cpu:ratio"),
        RULES,
        "$.spec.groups[1].rules[2].record",
        "promrules",
        "not a classic metric name",
        Severity.WARNING,
    ),
    Mutation(
        "for on a recording rule",
        setter(lambda e: rule(e, 1, 2), "for", "5m"),
        RULES,
        "$.spec.groups[1].rules[2].for",
        "promrules",
        "recording rule has no 'for'",
    ),
    Mutation(
        "reserved label name",
        setter(lambda e: rule(e, 0, 2)["labels"], "__name__", "x"),
        RULES,
        "$.spec.groups[0].rules[2].labels.__name__",
        "promrules",
        "invalid label name",
    ),
    Mutation(
        "unbalanced template braces",
        setter(lambda e: rule(e, 0, 0)["annotations"], "description", "{{ $labels.device } left"),
        RULES,
        "$.spec.groups[0].rules[0].annotations.description",
        "promrules",
        "unclosed action",
    ),
    Mutation(
        "unterminated string in a template",
        setter(lambda e: rule(e, 0, 2)["annotations"], "description", '{{ printf "%.4g $value }}'),
        RULES,
        "$.spec.groups[0].rules[2].annotations.description",
        "promrules",
        "unterminated quoted string",
    ),
    Mutation(
        "template block without end",
        setter(lambda e: rule(e, 0, 1)["labels"], "team", "{{ if $labels.team }}{{ .Value }}"),
        RULES,
        "$.spec.groups[0].rules[1].labels.team",
        "promrules",
        "has no {{end}}",
    ),
    Mutation(
        "route to a missing receiver",
        am(lambda c: c["route"]["routes"][3].update(receiver="pagerduty")),
        AM,
        f"{AM_KEY}.route.routes[3].receiver",
        "alertmanager",
        "undefined receiver 'pagerduty'",
    ),
    Mutation(
        "duplicate receiver",
        am(_dup_receiver),
        AM,
        f"{AM_KEY}.receivers[5].name",
        "alertmanager",
        "not unique (also receivers[3])",
    ),
    Mutation(
        "bad matcher",
        am(lambda c: c["route"]["routes"][0].update(matchers=["alertname Watchdog"])),
        AM,
        f"{AM_KEY}.route.routes[0].matchers[0]",
        "alertmanager",
        "bad matcher format",
    ),
    Mutation(
        "unescaped quote in a matcher",
        am(lambda c: c["route"]["routes"][4].update(matchers=['severity="warn"ing"'])),
        AM,
        f"{AM_KEY}.route.routes[4].matchers[0]",
        "alertmanager",
        "unescaped double quote",
    ),
    Mutation(
        "bad regex in match_re",
        am(lambda c: c["route"]["routes"][2].update(match_re={"severity": "crit(ical"})),
        AM,
        f"{AM_KEY}.route.routes[2].match_re.severity",
        "alertmanager",
        "invalid regex",
    ),
    Mutation(
        "RE2 rejects a look-ahead Python would take",
        am(lambda c: c["inhibit_rules"][0].update(target_matchers=["severity=~warn(?=ing)"])),
        AM,
        f"{AM_KEY}.inhibit_rules[0].target_matchers[0]",
        "alertmanager",
        "invalid regex",
    ),
    Mutation(
        "misspelt route field",
        am(lambda c: c["route"]["routes"][1].update(contine=True)),
        AM,
        f"{AM_KEY}.route.routes[1].contine",
        "alertmanager",
        "unknown field 'contine'",
    ),
    Mutation(
        "Slack receiver without a URL",
        am(lambda c: c["receivers"][0]["slack_configs"][0].pop("api_url")),
        AM,
        f"{AM_KEY}.receivers[0].slack_configs[0]",
        "alertmanager",
        "no Slack API URL",
    ),
    Mutation(
        "broken Slack text template",
        am(lambda c: c["receivers"][2]["slack_configs"][0].update(text="{{ range .Alerts }}x")),
        AM,
        f"{AM_KEY}.receivers[2].slack_configs[0].text",
        "alertmanager",
        "{{range}} has no {{end}}",
    ),
    Mutation(
        "bad group_wait beside a secret",
        am(lambda c: c["route"].update(group_wait="https://hooks.slack.com/T0SECRET")),
        AM,
        f"{AM_KEY}.route.group_wait",
        "alertmanager",
        "invalid duration",
    ),
    Mutation(
        "YAML broken inside a webhook URL",
        am_text(lambda t: t.replace("api_url: https", 'api_url: "https', 1)),
        AM,
        AM_KEY,
        "alertmanager",
        "not valid YAML at line",
    ),
    Mutation(
        "AlertmanagerConfig route to a missing receiver",
        _cr_route,
        AMC,
        "$.spec.route.routes[0].receiver",
        "alertmanager",
        "receiver 'team-b' not found",
    ),
    Mutation(
        "AlertmanagerConfig bad regex",
        _cr_regex,
        AMC,
        "$.spec.route.matchers[0]",
        "alertmanager",
        "invalid regex",
    ),
    Mutation(
        "invalid dashboard JSON",
        _broken_json,
        NODES,
        NODES_KEY,
        "dashboards",
        "invalid JSON at line 3, column 14",
    ),
    Mutation(
        "duplicate dashboard uid",
        _dashboard_copy,
        PODS,
        "$.data['pods.json'].uid",
        "dashboards",
        f"also used by grafana.yaml {NODES[1]} {NODES_KEY}.uid",
    ),
    Mutation(
        "unknown datasource uid",
        nodes(_unknown_datasource),
        NODES,
        f"{NODES_KEY}.panels[0].panels[0].targets[0].datasource",
        "dashboards",
        "datasource 'thanos' is neither",
    ),
    Mutation(
        "undeclared datasource variable",
        nodes(_undeclared_variable),
        NODES,
        f"{NODES_KEY}.panels[2].datasource",
        "dashboards",
        "$DS_PROMETHEUS is not declared",
    ),
    Mutation(
        "datasources Secret that does not parse",
        _broken_datasources,
        DATASOURCES,
        "$.data['datasources.yaml']",
        "dashboards",
        "not valid YAML at line",
    ),
]


def test_the_valid_environment_has_no_findings() -> None:
    assert run(fixture_env()) == []


@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.name)
def test_each_mutation_is_caught_where_it_is_and_nothing_else(mutation: Mutation) -> None:
    env = fixture_env()
    mutation.apply(env)
    findings = run(env)
    located = [(f.file, f.ref, f.path, f.check, f.severity) for f in findings]
    assert located == [(*mutation.where, mutation.path, mutation.check, mutation.severity)]
    assert mutation.says in findings[0].message
    for secret in SECRETS:
        assert secret not in repr(findings), secret


def test_the_mutations_are_distinct_and_enough() -> None:
    assert len({(m.where, m.path, m.says) for m in MUTATIONS}) == len(MUTATIONS) >= 12
