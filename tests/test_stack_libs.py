"""The stack's helper libraries (jsonnet/lib/) evaluated on their own, without kube-prometheus.

Routing is checked by replaying Alertmanager's algorithm (first matching child route wins, no
``continue``, root receiver as fallback) over the rendered route tree, so a route that looks
right but never matches (the seed's ``severity: error``, B1) fails here.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from kubeprom_build.rendering.engine import JsonnetError, available_engines, get_engine
from kubeprom_build.vendoring import jsonnetfile

ROOT = Path(__file__).resolve().parent.parent
LIB = ROOT / "jsonnet"
ENGINES = [e for e in ("rs", "go") if e in available_engines()]

ALB = {
    "subnets": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"],
    "certificateArn": "arn:aws:acm:ap-northeast-1:123456789012:certificate/0000",
    "cognito": {
        "userPoolArn": "arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/x",
        "userPoolClientId": "client",
        "userPoolDomain": "example",
    },
}


def evaluate(tmp_path: Path, code: str, engine: str = "rs") -> Any:
    """Evaluate ``code`` with jsonnet/ as the library path (as kpb build does)."""
    main = tmp_path / "main.jsonnet"
    main.write_text(code, encoding="utf-8")
    return json.loads(get_engine(engine).evaluate(main, jpath=[LIB]))


def ingress(tmp_path: Path, **overrides: Any) -> Any:
    params: dict[str, Any] = {
        "name": "grafana",
        "namespace": "monitoring",
        "host": "dev-grafana.example.com",
        "service": {"name": "grafana", "port": "http"},
        "healthcheckPath": "/api/health",
        "securityGroups": ["sg-0123456789abcdef0", "sg-0123456789abcdef1"],
        "env": "dev",
        "stickiness": True,
        "alb": ALB,
    }
    params.update(overrides)
    code = f"(import 'lib/ingress.libsonnet').albIngress({json.dumps(params)})"
    return evaluate(tmp_path, code)


# --- Ingress builder ---------------------------------------------------------------------------


def test_ingress_is_v1_with_alb_class_and_prefix_path(tmp_path: Path) -> None:
    ing = ingress(tmp_path)
    assert ing["apiVersion"] == "networking.k8s.io/v1"
    assert ing["spec"]["ingressClassName"] == "alb"
    rule = ing["spec"]["rules"][0]
    assert rule["host"] == "dev-grafana.example.com"
    path = rule["http"]["paths"][0]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    assert path["backend"] == {"service": {"name": "grafana", "port": {"name": "http"}}}
    assert "kubernetes.io/ingress.class" not in ing["metadata"]["annotations"]


def test_ingress_annotations(tmp_path: Path) -> None:
    ann = ingress(tmp_path)["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io/"
    got = {k.removeprefix(prefix): v for k, v in ann.items()}
    assert got["scheme"] == "internet-facing"
    assert got["target-type"] == "ip"
    assert got["subnets"] == "subnet-0123456789abcdef0,subnet-0123456789abcdef1"
    assert got["security-groups"] == "sg-0123456789abcdef0,sg-0123456789abcdef1"
    assert got["manage-backend-security-group-rules"] == "true"
    assert got["certificate-arn"] == ALB["certificateArn"]
    assert json.loads(got["listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert got["ssl-redirect"] == "443"
    assert got["healthcheck-path"] == "/api/health"
    assert got["tags"] == "app=grafana,env=dev"
    assert "stickiness.enabled=true" in got["target-group-attributes"]
    assert "group.name" not in got


def test_ingress_cognito_uses_controller_v2_keys(tmp_path: Path) -> None:
    ann = ingress(tmp_path)["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io/"
    assert ann[prefix + "auth-type"] == "cognito"
    assert json.loads(ann[prefix + "auth-idp-cognito"]) == {
        "userPoolARN": "arn:aws:cognito-idp:ap-northeast-1:123456789012:userpool/x",
        "userPoolClientID": "client",
        "userPoolDomain": "example",
    }
    assert ann[prefix + "auth-on-unauthenticated-request"] == "authenticate"
    assert ann[prefix + "auth-scope"] == "openid"
    assert ann[prefix + "auth-session-timeout"] == "604800"


def test_ingress_without_cognito_or_stickiness(tmp_path: Path) -> None:
    ann = ingress(tmp_path, stickiness=False, alb={**ALB, "cognito": None})["metadata"][
        "annotations"
    ]
    assert not [k for k in ann if "auth-" in k]
    assert "alb.ingress.kubernetes.io/target-group-attributes" not in ann


def test_ingress_group_needs_a_single_security_group(tmp_path: Path) -> None:
    ok = ingress(tmp_path, securityGroups=["sg-0123456789abcdef0"], alb={**ALB, "groupName": "mon"})
    assert ok["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"] == "mon"
    with pytest.raises(JsonnetError, match="exactly one security group"):
        ingress(tmp_path, alb={**ALB, "groupName": "mon"})


def test_ingress_requires_subnets(tmp_path: Path) -> None:
    alb = {k: v for k, v in ALB.items() if k != "subnets"}
    with pytest.raises(JsonnetError, match=r"alb\.subnets must be set"):
        ingress(tmp_path, alb=alb)


# --- Alertmanager routing ----------------------------------------------------------------------

MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


def matches(matcher: str, labels: dict[str, str]) -> bool:
    """One Alertmanager matcher; regexes are anchored, missing labels are empty strings."""
    found = MATCHER.match(matcher)
    assert found, f"unparsable matcher {matcher!r}"
    name, op, raw = found.groups()
    value = json.loads(raw) if raw.startswith('"') else raw
    actual = labels.get(name, "")
    if op in ("=~", "!~"):
        hit = re.fullmatch(value, actual) is not None
        return hit if op == "=~" else not hit
    return (actual == value) if op == "=" else (actual != value)


def route(tree: dict[str, Any], labels: dict[str, str]) -> str:
    """The receiver Alertmanager picks (the port has no ``continue`` routes)."""
    for child in tree.get("routes", []):
        assert not child.get("continue"), "the port does not use continue"
        if all(matches(m, labels) for m in child.get("matchers", [])):
            return route({"receiver": child["receiver"], **child}, labels)
    return str(tree["receiver"])


def am_config(tmp_path: Path, engine: str = "rs", extra: str = "") -> Any:
    cfg = (
        "{ slack: { critical: { channel: '#crit' }, warning: { channel: '#warn' },"
        " watchdog: { channel: '#dog' } } " + extra + " }"
    )
    code = (
        "(import 'lib/alertmanager.libsonnet').config("
        + cfg
        + ", function(level) { api_url_file: '/etc/am/' + level })"
    )
    return evaluate(tmp_path, code, engine)


ROUTING = [
    ({"alertname": "KubeAPIDown", "severity": "critical"}, "slack-critical"),
    ({"alertname": "KubePodCrashLooping", "severity": "warning"}, "slack-warning"),
    ({"alertname": "KubeQuotaAlmostFull", "severity": "info"}, "slack-warning"),
    ({"alertname": "Watchdog", "severity": "none"}, "slack-watchdog"),
    ({"alertname": "CPUThrottlingHigh", "severity": "info"}, "silent-receiver"),
    ({"alertname": "KubeCPUOvercommit", "severity": "warning"}, "silent-receiver"),
    ({"alertname": "KubeVersionMismatch", "severity": "warning"}, "silent-receiver"),
    ({"alertname": "InfoInhibitor", "severity": "none"}, "silent-receiver"),
    ({"alertname": "CPUThrottlingHighX", "severity": "info"}, "slack-warning"),
    ({"alertname": "SomethingNew", "severity": "error"}, "slack-critical"),
    ({"alertname": "NoSeverity"}, "slack-critical"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("labels", "receiver"), ROUTING)
def test_routing_sends_each_alert_to_the_right_receiver(
    tmp_path: Path, engine: str, labels: dict[str, str], receiver: str
) -> None:
    assert route(am_config(tmp_path, engine)["route"], labels) == receiver


def test_info_never_reaches_the_critical_channel(tmp_path: Path) -> None:
    tree = am_config(tmp_path)["route"]
    for name in ("KubeQuotaAlmostFull", "KubeStatefulSetReplicasMismatch", "X"):
        assert route(tree, {"alertname": name, "severity": "info"}) != "slack-critical"


def test_receivers_are_defined_and_carry_channel_and_url(tmp_path: Path) -> None:
    conf = am_config(tmp_path)
    names = {r["name"] for r in conf["receivers"]}
    used = {conf["route"]["receiver"]} | {r["receiver"] for r in conf["route"]["routes"]}
    assert used <= names
    assert names == {"slack-critical", "slack-warning", "slack-watchdog", "silent-receiver"}
    slack = {r["name"]: r["slack_configs"][0] for r in conf["receivers"] if "slack_configs" in r}
    assert slack["slack-critical"]["channel"] == "#crit"
    assert slack["slack-watchdog"]["api_url_file"] == "/etc/am/watchdog"
    for sc in slack.values():
        assert sc["send_resolved"] is True
        assert ".Annotations.summary" in sc["text"]
        assert ".Annotations.message" not in sc["text"].split("{{ else }}")[0]


def test_no_deprecated_match_fields(tmp_path: Path) -> None:
    text = json.dumps(am_config(tmp_path))
    for old in ('"match"', '"match_re"', '"source_match"', '"target_match"'):
        assert old not in text


def test_inhibit_rules_are_upstreams(tmp_path: Path) -> None:
    rules = am_config(tmp_path)["inhibit_rules"]

    def inhibits(source: dict[str, str], target: dict[str, str]) -> bool:
        return any(
            all(matches(m, source) for m in r["source_matchers"])
            and all(matches(m, target) for m in r["target_matchers"])
            and all(source.get(k) == target.get(k) for k in r["equal"])
            for r in rules
        )

    crit = {"alertname": "A", "namespace": "n", "severity": "critical"}
    assert inhibits(crit, {**crit, "severity": "warning"})
    assert inhibits(crit, {**crit, "severity": "info"})
    assert inhibits({**crit, "severity": "warning"}, {**crit, "severity": "info"})
    assert not inhibits({**crit, "severity": "warning"}, crit)
    assert not inhibits(crit, {**crit, "namespace": "other", "severity": "warning"})
    info_inhibitor = {"alertname": "InfoInhibitor", "namespace": "n", "severity": "none"}
    assert inhibits(info_inhibitor, {"alertname": "B", "namespace": "n", "severity": "info"})


def test_silenced_list_is_configurable(tmp_path: Path) -> None:
    tree = am_config(tmp_path, extra=", silencedAlerts: ['Noisy']")["route"]
    assert route(tree, {"alertname": "Noisy", "severity": "critical"}) == "silent-receiver"
    assert route(tree, {"alertname": "CPUThrottlingHigh", "severity": "info"}) == "slack-warning"
    empty = am_config(tmp_path, extra=", silencedAlerts: []")["route"]
    assert all(r["receiver"] != "silent-receiver" for r in empty["routes"])


def test_inline_url_mode(tmp_path: Path) -> None:
    code = (
        "(import 'lib/alertmanager.libsonnet').config({ slack: { critical: { channel: 'a' },"
        " warning: { channel: 'b' }, watchdog: { channel: 'c' } } },"
        " function(level) { api_url: 'https://slack.invalid/' + level })"
    )
    conf = evaluate(tmp_path, code)
    urls = [r["slack_configs"][0]["api_url"] for r in conf["receivers"] if "slack_configs" in r]
    assert urls == [f"https://slack.invalid/{x}" for x in ("critical", "warning", "watchdog")]


# --- Output-file builder -----------------------------------------------------------------------


def test_build_splits_setup_and_skips_empty(tmp_path: Path) -> None:
    stack = """{
      kubePrometheus: { namespace: { kind: 'Namespace' },
                        prometheusRule: { kind: 'PrometheusRule' } },
      prometheusOperator: { '0fooCustomResourceDefinition': { kind: 'CustomResourceDefinition' },
                            deployment: { kind: 'Deployment' }, networkPolicy: {}, gone: null,
                            hidden:: { kind: 'Service' } },
      storageClass:: { fast: { kind: 'StorageClass' } },
      common:: { 'limit-range': { kind: 'LimitRange' } },
      notListed: { x: { kind: 'Service' } },
    }"""
    files = evaluate(tmp_path, f"(import 'lib/build.libsonnet').files({stack})")
    assert sorted(files) == [
        "kube-prometheus-prometheusRule",
        "prometheus-operator-deployment",
        "setup/0namespace-namespace",
        "setup/common-limit-range",
        "setup/prometheus-operator-0fooCustomResourceDefinition",
        "setup/storage-class-fast",
    ]
    setup = sorted(k for k in files if k.startswith("setup/"))
    assert setup[0] == "setup/0namespace-namespace", "Namespace must be applied first"


def test_build_rejects_duplicate_names(tmp_path: Path) -> None:
    code = (
        "(import 'lib/build.libsonnet').files({ a: { x: { kind: 'S' } }, b: { x: { kind: 'S' } } },"
        " prefixes={ a: 'p-', b: 'p-' })"
    )
    with pytest.raises(JsonnetError, match="duplicate output file names"):
        evaluate(tmp_path, code)


# --- No secrets in the repository --------------------------------------------------------------

SECRET_PATTERNS = [
    re.compile(r"hooks\.slack\.com"),
    re.compile(r"xox[abprs]-[0-9A-Za-z-]+"),
    re.compile(r"AKIA[0-9A-Z]{16}"),
    re.compile(r"(?i)(password|passwd|secret|token|api_url)\s*[:=]"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"ghp_[0-9A-Za-z]{20,}"),
]


def environment_files() -> list[Path]:
    return sorted((ROOT / "environments").glob("*.jsonnet"))


def test_there_are_three_environments() -> None:
    assert [p.stem for p in environment_files()] == ["dev", "prd", "stg"]


@pytest.mark.parametrize("path", environment_files(), ids=lambda p: p.name)
def test_environment_files_hold_no_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for pattern in SECRET_PATTERNS:
        assert not pattern.search(text), f"{path.name}: secret-looking text {pattern.pattern!r}"


@pytest.mark.parametrize("path", environment_files(), ids=lambda p: p.name)
def test_environment_files_use_obvious_placeholders(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    accounts = set(re.findall(r"arn:aws:[a-z-]+:[a-z0-9-]*:(\d{12}):", text))
    assert accounts == {"123456789012"}
    assert set(re.findall(r"domain: '([^']+)'", text)) == {"example.com"}
    for sg in re.findall(r"sg-[0-9a-f]+", text):
        assert sg.startswith("sg-0123456789abcdef")


def test_example_secrets_are_dummies() -> None:
    data = json.loads((ROOT / "secrets" / "example.json").read_text(encoding="utf-8"))
    assert set(data) == {"slack", "grafana"}
    assert set(data["slack"]) == {"critical", "warning", "watchdog"}
    assert set(data["grafana"]) == {"adminPassword", "githubClientSecret"}
    text = json.dumps(data)
    assert "hooks.slack.com" not in text
    assert all(".invalid/" in url for url in data["slack"].values())


def test_real_secret_files_are_git_ignored() -> None:
    ignore = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "/secrets/*.json" in ignore
    assert "!/secrets/example.json" in ignore


# --- dependency pins ---------------------------------------------------------------------------

KUBE_PROMETHEUS = "github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus"


def test_jsonnetfile_depends_on_kube_prometheus_v0_18_0() -> None:
    raw = (ROOT / "jsonnetfile.json").read_bytes()
    jf = jsonnetfile.parse(raw, "jsonnetfile.json", trust=jsonnetfile.Trust.TOP)
    assert jsonnetfile.dumps(jf, lock=False) == raw, "not in jb's written form"
    assert jf.legacy_imports is True
    assert [(d.name, d.version) for d in jf.dependencies] == [(KUBE_PROMETHEUS, "v0.18.0")]


def test_lock_is_jb_formatted_and_pins_the_tested_set() -> None:
    raw = (ROOT / "jsonnetfile.lock.json").read_bytes()
    lock = jsonnetfile.parse(raw, "jsonnetfile.lock.json", trust=jsonnetfile.Trust.TOP)
    assert jsonnetfile.dumps(lock, lock=True) == raw, "not in jb's written form"
    assert list(lock.names()) == sorted(lock.names(), key=str.encode)
    assert len(lock.dependencies) == 22
    assert all(len(d.version) == 40 and len(d.sum) == 44 for d in lock.dependencies)
    kp = lock.get(KUBE_PROMETHEUS)
    assert kp is not None
    # v0.18.0 is a lightweight tag: `git ls-remote` gives the commit itself.
    assert kp.version == "4775d44d1aacfab7effa08293357521a3c603b87"
    assert kp.sum == "xzW14ZUgd2nmF55s4TZMhFqqr7COqqAxCtUrpyYrLjw="
    grafana = lock.get("github.com/grafana/grafana/grafana-mixin")
    assert grafana is not None
    assert grafana.version == "3fcdbc5a6e5c955bd42bd3715dd03cbad2b078c1"
