"""The domain checks over kube-prometheus v0.18.0's committed manifests (opt-in, see realworld.md).

Upstream's rules, Alertmanager Secret and dashboards must pass without an error; the test also
proves the checks saw them (a check that silently skipped everything would pass too).
"""

from __future__ import annotations

import time

import pytest

from kubeprom_build.validation import (
    Finding,
    Manifest,
    Severity,
    alertmanager,
    dashboards,
    explain_routes,
    promrules,
)
from tests.helpers.manifests import as_manifests, load_dir
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir

KP = kube_prometheus_dir()
pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(KP is None or not (KP / "src" / "manifests").is_dir(), reason=SKIP_REASON),
]


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    assert KP is not None
    return load_dir(KP / "src" / "manifests")


def findings(manifests: list[Manifest]) -> list[Finding]:
    checks = (promrules.check, alertmanager.check, dashboards.check)
    return [finding for check in checks for finding in check(manifests)]


def test_kube_prometheus_has_no_findings(manifests: list[Manifest]) -> None:
    found = findings(manifests)
    assert [f for f in found if f.severity is Severity.ERROR] == []
    assert found == []  # no warnings either (the split records and severity ladders are fine)


def test_the_checks_saw_what_they_check(manifests: list[Manifest]) -> None:
    groups = [
        group
        for m in manifests
        if m.obj.get("kind") == "PrometheusRule"
        for group in m.obj["spec"]["groups"]
    ]
    assert sum(len(group["rules"]) for group in groups) >= 200
    boards = [
        m for m in manifests if str(m.ref).startswith("ConfigMap/monitoring/grafana-dashboard-")
    ]
    assert len(boards) >= 25
    [table] = explain_routes(manifests)
    assert table.ref == "Secret/monitoring/alertmanager-main"
    # Upstream's receivers have no integrations: every alert goes nowhere until configured.
    assert all(row.nowhere for row in table.alerts)
    assert [row.receivers for row in table.alerts[:2]] == [("Critical",), ("Default",)]


def test_all_three_checks_are_fast(manifests: list[Manifest]) -> None:
    findings(manifests)  # warm up: imports, compiled regexes
    start = time.perf_counter()
    findings(manifests)
    explain_routes(manifests)
    # ~0.1 s measured on the 2-core machine; the budget is 0.3 s, with room for shared CPUs.
    assert time.perf_counter() - start < 0.6


@pytest.mark.parametrize("env", ["dev", "stg", "prd"])
def test_the_stacks_own_environments_have_no_findings(env: str) -> None:
    from tests.test_stack_real import VENDOR, built

    if VENDOR is None:
        pytest.skip("kube-prometheus is not vendored")
    files = {f"{name}.yaml": [obj] for name, obj in built(env).items()}
    manifests = as_manifests(files)
    assert findings(manifests) == []
    [table] = explain_routes(manifests)
    assert [row.receivers for row in table.alerts[:5]] == [
        ("slack-critical",),
        ("slack-warning",),
        ("slack-warning",),
        ("slack-critical",),
        ("slack-watchdog",),
    ]
