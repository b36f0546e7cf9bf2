"""The EKS stack built against the real kube-prometheus v0.18.0 (marker ``realworld``).

Environments go through kpb's own pipeline (:func:`kubeprom_build.rendering.pipeline.render`:
engine, output
contract, YAML emitter); assertions read the YAML bytes back.

Runs where a vendor tree holding kube-prometheus and its dependencies exists: the project's own
``vendor/`` (after ``kpb vendor``) or ``$KPB_MIRRORS/kp-v0.18.0/vendor``. Elsewhere every
test is skipped with the reason. The C++ engine needs 100-500 s per environment, so it joins the
cross-engine comparison only with ``KPB_REAL_CPP=1`` (and is a known, strict xfail: see
``CPP_FLOATS``).
"""

from __future__ import annotations

import base64
import configparser
import json
import os
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeprom_build.rendering.buildstate import new_salt
from kubeprom_build.rendering.engine import JsonnetError, available_engines, get_engine
from kubeprom_build.rendering.pipeline import BuildRequest, render
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir
from tests.test_stack_libs import route

pytestmark = pytest.mark.realworld

ROOT = Path(__file__).resolve().parent.parent
ENVS = ("dev", "stg", "prd")
KP_MAIN = "github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus/main.libsonnet"
EXPECTED = {  # per environment: what environments/<env>.jsonnet sets
    "dev": {"prefix": "dev-", "retention": "7d", "size": "20Gi", "cidr": "10.10.0.0/16"},
    "stg": {"prefix": "stg-", "retention": "15d", "size": "50Gi", "cidr": "10.20.0.0/16"},
    "prd": {"prefix": "", "retention": "30d", "size": "100Gi", "cidr": "10.30.0.0/16"},
}


def vendor_dir() -> Path | None:
    """The vendor tree to build against, or None when kube-prometheus is not available."""
    mirrored = kube_prometheus_dir()
    for candidate in (ROOT / "vendor", mirrored / "vendor" if mirrored else None):
        if candidate is not None and (candidate / KP_MAIN).is_file():
            return candidate
    return None


VENDOR = vendor_dir()
if VENDOR is None:
    pytestmark = [
        pytest.mark.realworld,
        pytest.mark.skip(
            reason=f"kube-prometheus is not vendored: run `kpb vendor`, or {SKIP_REASON}"
        ),
    ]


def evaluate_file(
    path: Path, engine: str = "rs", ext_codes: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Evaluate one jsonnet file with the library path kpb uses: jsonnet/ then vendor/."""
    assert VENDOR is not None
    text = get_engine(engine).evaluate(path, jpath=[ROOT / "jsonnet", VENDOR], ext_codes=ext_codes)
    result: dict[str, Any] = json.loads(text)
    return result


@cache
def rendered(env: str, engine: str = "rs") -> Mapping[str, bytes]:
    """``{path: YAML bytes}`` exactly as ``kpb build env`` would write them (nothing on disk)."""
    assert VENDOR is not None
    request = BuildRequest(project=ROOT, vendor_dir=VENDOR, engine=engine)
    return render(request, env, get_engine(engine), new_salt()).files


class _Loader(yaml.CSafeLoader):
    """YAML 1.1 reads a bare ``=`` (it occurs in a CRD) as a 'value' tag; keep it a string."""


_Loader.add_constructor(
    "tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node)
)


@cache
def built(env: str) -> dict[str, Any]:
    """The rs build of ``env`` read back: ``{file name without .yaml: object}``."""
    files = rendered(env)
    return {
        path.removesuffix(".yaml"): yaml.load(data, Loader=_Loader) for path, data in files.items()
    }


@pytest.fixture(params=ENVS)
def env(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# --- layout ------------------------------------------------------------------------------------


def test_layout_setup_first_and_same_files_everywhere(env: str) -> None:
    files = built(env)
    setup = sorted(k for k in files if k.startswith("setup/"))
    kinds = {files[k]["kind"] for k in setup}
    assert kinds == {"Namespace", "CustomResourceDefinition", "StorageClass", "LimitRange"}
    assert setup[0] == "setup/0namespace-namespace"
    assert len([k for k in setup if files[k]["kind"] == "CustomResourceDefinition"]) == 10
    rest = {files[k]["kind"] for k in files if not k.startswith("setup/")}
    assert not rest & kinds
    assert (len(files), len(setup)) == (101, 13)
    assert sorted(files) == sorted(built("prd"))


def test_all_components_are_emitted(env: str) -> None:
    prefixes = {k.split("/")[-1].split("-")[0] for k in built(env)}
    for expected in ("alertmanager", "blackbox", "grafana", "ingress", "kubernetes", "node"):
        assert expected in prefixes


# --- Ingresses ---------------------------------------------------------------------------------


def test_three_alb_ingresses(env: str) -> None:
    files = built(env)
    ingresses = {k: v for k, v in files.items() if v["kind"] == "Ingress"}
    assert sorted(ingresses) == [
        "ingress-alertmanager-main",
        "ingress-grafana",
        "ingress-prometheus-k8s",
    ]
    prefix = EXPECTED[env]["prefix"]
    backends = {}
    for ing in ingresses.values():
        assert ing["apiVersion"] == "networking.k8s.io/v1"
        assert ing["spec"]["ingressClassName"] == "alb"
        rule = ing["spec"]["rules"][0]
        backend = rule["http"]["paths"][0]["backend"]["service"]
        backends[rule["host"]] = (backend["name"], backend["port"]["name"])
        ann = ing["metadata"]["annotations"]
        assert ann["alb.ingress.kubernetes.io/target-type"] == "ip"
        assert ann["alb.ingress.kubernetes.io/auth-type"] == "cognito"
        assert f"env={env}" in ann["alb.ingress.kubernetes.io/tags"]
    assert backends == {
        f"{prefix}grafana.example.com": ("grafana", "http"),
        f"{prefix}prometheus.example.com": ("prometheus-k8s", "web"),
        f"{prefix}alertmanager.example.com": ("alertmanager-main", "web"),
    }


def test_ingress_backends_exist_as_cluster_ip_services(env: str) -> None:
    files = built(env)
    services = {v["metadata"]["name"]: v for v in files.values() if v["kind"] == "Service"}
    for ing in (v for v in files.values() if v["kind"] == "Ingress"):
        backend = ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        service = services[backend["name"]]
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP"  # G6: no node-ports
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}


def test_network_policies_admit_the_alb(env: str) -> None:
    files = built(env)
    cidr = EXPECTED[env]["cidr"]
    for key, port in (
        ("grafana-networkPolicy", 3000),
        ("prometheus-networkPolicy", 9090),
        ("alertmanager-networkPolicy", 9093),
    ):
        rules = files[key]["spec"]["ingress"]
        assert {
            "from": [{"ipBlock": {"cidr": cidr}}],
            "ports": [{"port": port, "protocol": "TCP"}],
        } in (rules)


# --- storage and Prometheus --------------------------------------------------------------------


def test_storage_class_is_ebs_csi_gp3(env: str) -> None:
    sc = built(env)["setup/storage-class-prometheus-gp3"]
    assert sc["metadata"]["name"] == "prometheus-gp3"
    assert sc["provisioner"] == "ebs.csi.aws.com"
    assert sc["parameters"]["type"] == "gp3"
    assert sc["parameters"]["encrypted"] == "true"
    assert sc["volumeBindingMode"] == "WaitForFirstConsumer"
    assert sc["allowVolumeExpansion"] is True


def test_prometheus_storage_retention_replicas(env: str) -> None:
    spec = built(env)["prometheus-prometheus"]["spec"]
    assert spec["replicas"] == 3
    assert spec["retention"] == EXPECTED[env]["retention"]
    assert spec["externalUrl"] == f"https://{EXPECTED[env]['prefix']}prometheus.example.com"
    vct = spec["storage"]["volumeClaimTemplate"]
    assert (vct["apiVersion"], vct["kind"]) == ("v1", "PersistentVolumeClaim")
    assert vct["spec"]["storageClassName"] == "prometheus-gp3"
    assert vct["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert vct["spec"]["resources"]["requests"]["storage"] == EXPECTED[env]["size"]
    term = spec["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert term[0]["podAffinityTerm"]["topologyKey"] == "topology.kubernetes.io/zone"  # G8


def test_eks_platform_objects(env: str) -> None:
    files = built(env)
    assert files["kubernetes-serviceAwsVpcCni"]["metadata"]["namespace"] == "kube-system"
    rules = json.dumps(files["kubernetes-prometheusRuleAwsVpcCni"])
    assert "AwsVpcCniWarmIPsLow" in rules
    assert not [k for k in files if "KubeScheduler" in k or "KubeControllerManager" in k]
    groups = {g["name"] for g in files["kubernetes-prometheusRule"]["spec"]["groups"]}
    assert "kubernetes-system-scheduler" not in groups
    assert "KubeletDown" in json.dumps(files["kubernetes-prometheusRule"])


# --- Alertmanager ------------------------------------------------------------------------------


def alertmanager_config(files: Mapping[str, Any]) -> dict[str, Any]:
    secret = files["alertmanager-secret"]
    text = secret["stringData"]["alertmanager.yaml"]
    config: dict[str, Any] = yaml.safe_load(text)
    return config


def test_alertmanager_config_and_receivers(env: str) -> None:
    files = built(env)
    config = alertmanager_config(files)
    receivers = {r["name"]: r for r in config["receivers"]}
    assert set(receivers) == {
        "slack-critical",
        "slack-warning",
        "slack-watchdog",
        "silent-receiver",
    }
    for level in ("critical", "warning", "watchdog"):
        slack = receivers[f"slack-{level}"]["slack_configs"][0]
        assert slack["api_url_file"] == f"/etc/alertmanager/secrets/alertmanager-slack/{level}"
        assert slack["channel"].startswith("#prom-alert-")
    matchers = [m for r in config["route"]["routes"] for m in r["matchers"]]
    assert "severity = critical" in matchers
    assert 'severity =~ "warning|info"' in matchers
    assert len(config["inhibit_rules"]) == 3
    am = files["alertmanager-alertmanager"]["spec"]
    assert am["secrets"] == ["alertmanager-slack"]
    assert am["replicas"] == 3
    assert am["externalUrl"] == f"https://{EXPECTED[env]['prefix']}alertmanager.example.com"


def test_every_real_alert_reaches_the_right_receiver(env: str) -> None:
    """B1 on the real rules: replay routing for each of kube-prometheus' alerts."""
    files = built(env)
    tree = alertmanager_config(files)["route"]
    alerts = [
        {"alertname": rule["alert"], **rule.get("labels", {})}
        for obj in files.values()
        if obj["kind"] == "PrometheusRule"
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert len(alerts) > 100
    assert {a.get("severity") for a in alerts} == {"critical", "warning", "info", "none"}
    silenced = {"KubeCPUOvercommit", "CPUThrottlingHigh", "KubeVersionMismatch", "InfoInhibitor"}
    for labels in alerts:
        if labels["alertname"] in silenced:
            expected = "silent-receiver"
        elif labels["alertname"] == "Watchdog":
            expected = "slack-watchdog"
        elif labels["severity"] == "critical":
            expected = "slack-critical"
        else:
            expected = "slack-warning"
        assert route(tree, labels) == expected, labels


# --- Grafana -----------------------------------------------------------------------------------


def grafana_ini(files: Mapping[str, Any]) -> configparser.ConfigParser:
    secret = files["grafana-config"]
    raw = secret.get("stringData", {}).get("grafana.ini")
    if raw is None:
        raw = base64.b64decode(secret["data"]["grafana.ini"]).decode()
    ini = configparser.ConfigParser(interpolation=None)
    ini.read_string(raw)
    return ini


def test_grafana_config_and_secret_references(env: str) -> None:
    files = built(env)
    ini = grafana_ini(files)
    assert ini["server"]["root_url"] == f"https://{EXPECTED[env]['prefix']}grafana.example.com"
    github = ini["auth.github"]
    assert github["enabled"] == "true"
    assert github["client_id"] == f"example-github-client-id-{env}"
    assert "client_secret" not in github
    assert not ini.has_section("security")
    assert ini["date_formats"]["default_timezone"] == "UTC"
    container = files["grafana-deployment"]["spec"]["template"]["spec"]["containers"][0]
    env_vars = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"]}
    assert env_vars == {
        "GF_SECURITY_ADMIN_PASSWORD": {"name": "grafana-secrets", "key": "admin-password"},
        "GF_AUTH_GITHUB_CLIENT_SECRET": {"name": "grafana-secrets", "key": "github-client-secret"},
    }
    assert "GF_INSTALL_PLUGINS" not in env_vars


def test_custom_dashboard_is_provisioned(env: str) -> None:
    files = built(env)
    maps = {c["metadata"]["name"]: c for c in files["grafana-dashboardDefinitions"]["items"]}
    cm = maps["grafana-dashboard-cluster-autoscaler-stats"]
    dashboard = json.loads(cm["data"]["cluster-autoscaler-stats.json"])
    assert dashboard["uid"] == "cluster-autoscaler-stats"
    assert {p["type"] for p in dashboard["panels"]} <= {"timeseries", "stat", "piechart"}
    pod = files["grafana-deployment"]["spec"]["template"]["spec"]
    volumes = {v["name"] for v in pod["volumes"]}
    assert "grafana-dashboard-cluster-autoscaler-stats" in volumes


def test_reference_mode_renders_no_secret_material(env: str) -> None:
    text = json.dumps(built(env))
    for needle in ("hooks.slack.com", "admin_password", "client_secret", '"api_url"'):
        assert needle not in text


# --- LimitRange (G2) ---------------------------------------------------------------------------

_SUFFIX = {"m": Decimal("0.001"), "Ki": Decimal(1024), "Mi": Decimal(1024) ** 2}
_SUFFIX |= {"Gi": Decimal(1024) ** 3, "k": Decimal(1000), "M": Decimal(1000) ** 2}


def quantity(text: str) -> Decimal:
    found = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text))
    assert found, text
    return Decimal(found.group(1)) * _SUFFIX.get(found.group(2), Decimal(1))


# prometheus-operator v0.92 defaults for the config-reloader sidecar (requests = limits).
RELOADER = {
    "requests": {"cpu": "10m", "memory": "50Mi"},
    "limits": {"cpu": "10m", "memory": "50Mi"},
}


def pods(files: Mapping[str, Any]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(name, container resources) for every pod the stack creates, operator pods included."""
    for key, obj in files.items():
        if obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet"):
            spec = obj["spec"]["template"]["spec"]
            containers = spec["containers"] + spec.get("initContainers", [])
            yield key, [c.get("resources", {}) for c in containers]
        elif obj["kind"] in ("Prometheus", "Alertmanager"):
            yield key, [obj["spec"].get("resources", {}), RELOADER, RELOADER]


def admission_errors(resources: list[dict[str, Any]], limit_range: dict[str, Any]) -> list[str]:
    """The apiserver's defaulting then LimitRanger's checks for one pod."""
    items = {i["type"]: i for i in limit_range["spec"]["limits"]}
    box, pod = items.get("Container", {}), items.get("Pod", {})
    errors: list[str] = []
    sums: dict[str, dict[str, Decimal]] = {"requests": {}, "limits": {}}
    for res in resources:
        lim = dict(res.get("limits", {}))
        req = {**lim, **res.get("requests", {})}  # API defaulting: requests default to limits
        lim = {**box.get("default", {}), **lim}
        req = {**box.get("defaultRequest", {}), **req}
        errors += bound_errors("Container", req, lim, box)
        errors += [
            f"{r} request > limit" for r in req if r in lim and quantity(req[r]) > quantity(lim[r])
        ]
        for kind, values in (("requests", req), ("limits", lim)):
            for r, v in values.items():
                sums[kind][r] = sums[kind].get(r, Decimal(0)) + quantity(v)
    total = {k: {r: str(v) for r, v in s.items()} for k, s in sums.items()}
    return errors + bound_errors("Pod", total["requests"], total["limits"], pod)


def bound_errors(
    where: str, req: Mapping[str, str], lim: Mapping[str, str], item: Mapping[str, Any]
) -> list[str]:
    errors = []
    for r, low in item.get("min", {}).items():
        if r not in req or quantity(req[r]) < quantity(low):
            errors.append(f"{where} {r} request below min {low}")
    for r, high in item.get("max", {}).items():
        if r not in lim:
            errors.append(f"{where} {r}: max {high} but no limit")
        elif quantity(lim[r]) > quantity(high):
            errors.append(f"{where} {r} limit above max {high}")
    return errors


SEED_LIMIT_RANGE = {
    "spec": {
        "limits": [
            {
                "type": "Container",
                "max": {"cpu": "8", "memory": "16Gi"},
                "min": {"cpu": "10m", "memory": "10Mi"},
                "default": {"memory": "16Gi"},
                "defaultRequest": {"cpu": "100m", "memory": "100Mi"},
            },
            {
                "type": "Pod",
                "max": {"cpu": "16", "memory": "32Gi"},
                "min": {"cpu": "100m", "memory": "100Mi"},
            },
        ]
    }
}


def test_limit_range_admits_every_pod(env: str) -> None:
    files = built(env)
    limit_range = files["setup/common-limit-range"]
    assert limit_range["metadata"]["namespace"] == "monitoring"
    rejected = {name: e for name, res in pods(files) if (e := admission_errors(res, limit_range))}
    assert rejected == {}
    assert len(list(pods(files))) >= 8


def test_the_seeds_limit_range_would_reject_pods() -> None:
    """The simulation bites: the 2019 minimums reject several v0.18.0 pods (G2)."""
    rejected = {n for n, res in pods(built("dev")) if admission_errors(res, SEED_LIMIT_RANGE)}
    assert {"alertmanager-alertmanager", "prometheus-prometheus"} <= rejected
    assert "blackbox-exporter-deployment" in rejected


# --- secrets: inline mode ----------------------------------------------------------------------

INLINE_ENV = """
((import 'base.libsonnet') + {
  config+:: {
    env: 'test', domain: 'example.com', secretsMode: 'inline',
    alb+: { subnets: ['subnet-0123456789abcdef0'], certificateArn: 'arn:aws:acm:x:123456789012:c',
            allowFromCidrs: ['10.0.0.0/16'] },
    grafana+: { securityGroups: ['sg-0123456789abcdef0'],
                github+: { clientId: 'id', allowedOrganizations: 'example-org' } },
    alertmanager+: { securityGroups: ['sg-0123456789abcdef0'],
                     slack+: { critical: { channel: '#c' }, warning: { channel: '#w' },
                               watchdog: { channel: '#d' } } },
    prometheus+: { securityGroups: ['sg-0123456789abcdef0'] },
  },
}).build()
"""


def test_inline_mode_takes_secrets_from_the_ext_var(tmp_path: Path) -> None:
    main = tmp_path / "inline.jsonnet"
    main.write_text(INLINE_ENV, encoding="utf-8")
    secrets = (ROOT / "secrets" / "example.json").read_text(encoding="utf-8")
    files = evaluate_file(main, ext_codes={"secrets": secrets})
    example = json.loads(secrets)
    receivers = {r["name"]: r for r in alertmanager_config(files)["receivers"]}
    assert (
        receivers["slack-critical"]["slack_configs"][0]["api_url"] == example["slack"]["critical"]
    )
    assert files["alertmanager-alertmanager"]["spec"]["secrets"] == []
    ini = grafana_ini(files)
    assert ini["security"]["admin_password"] == example["grafana"]["adminPassword"]
    assert ini["auth.github"]["client_secret"] == example["grafana"]["githubClientSecret"]
    container = files["grafana-deployment"]["spec"]["template"]["spec"]["containers"][0]
    assert not container.get("env")
    assert files["ingress-grafana"]["spec"]["rules"][0]["host"] == "test-grafana.example.com"


def test_inline_mode_without_the_ext_var_fails_loudly(tmp_path: Path) -> None:
    main = tmp_path / "inline.jsonnet"
    main.write_text(INLINE_ENV, encoding="utf-8")
    with pytest.raises(JsonnetError, match=r"(?i)(undefined external|not defined).*secrets"):
        evaluate_file(main)


def test_ingress_group_needs_one_shared_security_group(tmp_path: Path) -> None:
    """G7: one ALB for all three UIs only works with one identical security group."""
    main = tmp_path / "grouped.jsonnet"
    grouped = INLINE_ENV.replace("secretsMode: 'inline',", "").replace(
        "allowFromCidrs: ['10.0.0.0/16']", "allowFromCidrs: ['10.0.0.0/16'], groupName: 'mon'"
    )
    main.write_text(grouped, encoding="utf-8")
    files = evaluate_file(main)
    ingresses = [v for v in files.values() if v["kind"] == "Ingress"]
    groups = {
        v["metadata"]["annotations"]["alb.ingress.kubernetes.io/group.name"] for v in ingresses
    }
    assert (len(ingresses), groups) == (3, {"mon"})
    other = "prometheus+: { securityGroups: ['sg-0123456789abcdef9']"
    main.write_text(grouped.replace(other[:-3] + "0']", other), encoding="utf-8")
    with pytest.raises(JsonnetError, match="same single security group"):
        evaluate_file(main)


# --- engines -----------------------------------------------------------------------------------


# C++ jsonnet 0.22 prints 0.6 as 0.59999999999999998 inside std.manifestJsonEx strings (go and rs
# print 0.6, as kube-prometheus' committed manifests do), so the Grafana dashboard ConfigMaps
# differ. Strict: this starts failing, and should be removed, once the engines agree.
CPP_FLOATS = pytest.mark.xfail(
    strict=True,
    reason="cpp formats floats in std.manifestJsonEx with 17 digits (0.59999999999999998)",
)


def engines_to_compare() -> list[Any]:
    wanted = ["go"] + (["cpp"] if os.environ.get("KPB_REAL_CPP") == "1" else [])
    return [
        pytest.param(e, marks=CPP_FLOATS) if e == "cpp" else e
        for e in wanted
        if e in available_engines()
    ]


@pytest.mark.parametrize("engine", engines_to_compare())
def test_engines_write_identical_bytes(env: str, engine: str) -> None:
    """Every engine gives byte-identical manifests (kpb's YAML of each engine's JSON)."""
    theirs, ours = rendered(env, engine), rendered(env)
    assert sorted(theirs) == sorted(ours)
    assert [p for p in ours if theirs[p] != ours[p]] == []
