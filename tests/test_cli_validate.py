"""``kpb validate`` and ``kpb build --validate`` through the real command line.

What they prove: the one-line finding format and exit codes, the ``--json`` result against
docs/json-schema.json, that an invalid build leaves ``manifests/<env>`` byte for byte as it was
(also with several environments in worker processes, where the gate is pickled), that no
output ever holds a secret value, and that kpb.toml settings and mistakes are handled.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers import validproject
from tests.helpers.jsonschema_lite import check_document
from tests.helpers.validproject import SECRET


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.yaml")}


def _broken(project: Path, env: str = "dev") -> None:
    """The environment's source now renders a Secret whose value has the wrong type."""
    values = validproject.objects()
    values["alertmanager-secret"]["stringData"]["slack_url"] = [SECRET]
    values["demo-deployment"]["spec"]["replicas"] = "two"
    validproject.write_env(project, env, values)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return validproject.make_project(tmp_path / "project", ("dev", "prd"))


def test_validate_prints_one_line_per_finding_and_exits_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "-q", "build", "--all"]) == 0
    target = project / "manifests" / "dev" / "demo-deployment.yaml"
    target.write_text(target.read_text().replace("replicas: 2", "replicas: two"))
    capsys.readouterr()
    assert run(["-C", str(project), "validate", "--all"]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "dev: demo-deployment.yaml: Deployment/monitoring/demo: $.spec.replicas: "
        "expected integer, got string (Kubernetes 1.35)"
    ]
    assert "error: validation failed: dev (1 error, 0 warnings)" in err
    assert "prd: 7 objects, 0 errors, 0 warnings (Kubernetes 1.35)" in err


def test_validate_json_lists_the_findings(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "-q", "build", "dev"]) == 0
    target = project / "manifests" / "dev" / "demo-serviceMonitor.yaml"
    target.write_text(target.read_text().replace("interval: 30s", "interval: 30"))
    capsys.readouterr()
    code = run(["-C", str(project), "validate", "dev", "--json", "--kube-version", "v1.33.4"])
    doc = check_document(capsys.readouterr().out)
    assert code == 1 and doc["exit_code"] == 1 and doc["command"] == "validate"
    assert doc["error"]["kind"] == "invalid"
    result = doc["result"]
    assert result["environments"] == [
        {
            "environment": "dev",
            "kube_version": "1.33",
            "strict": False,
            "objects": 7,
            "errors": 1,
            "warnings": 0,
            "valid": False,
        }
    ]
    [finding] = result["findings"]
    assert finding["object"] == "ServiceMonitor/monitoring/demo"
    assert finding["path"] == "$.spec.endpoints[0].interval"
    assert finding["check"] == "crds" and finding["severity"] == "error"


def test_build_validate_leaves_the_old_manifests_untouched(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "-q", "build", "--all", "--validate"]) == 0
    before = {env: _tree(project / "manifests" / env) for env in ("dev", "prd")}
    _broken(project, "dev")
    _broken(project, "prd")
    capsys.readouterr()
    code = run(["-C", str(project), "build", "--all", "--validate", "-j", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    doc = check_document(out)
    assert {f["environment"] for f in doc["result"]["validation"]["findings"]} == {"dev", "prd"}
    for env in ("dev", "prd"):
        assert _tree(project / "manifests" / env) == before[env]
    assert SECRET not in out + err


def test_build_validate_writes_a_valid_environment_and_skips_none(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A second build is skipped by its stamp; its files on disk are validated instead."""
    assert run(["-C", str(project), "build", "dev", "--validate"]) == 0
    assert (project / "manifests" / "dev" / "demo-service.yaml").is_file()
    capsys.readouterr()
    assert run(["-C", str(project), "build", "dev", "--validate", "--json"]) == 0
    doc = check_document(capsys.readouterr().out)
    assert doc["result"]["environments"][0]["skipped"] is True
    assert doc["result"]["validation"]["environments"][0]["objects"] == 7


def test_no_output_holds_a_secret_value(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Secret values fail schemas in three ways; neither lines, JSON nor errors quote them."""
    assert run(["-C", str(project), "-q", "build", "dev"]) == 0
    folder = project / "manifests" / "dev"
    secret = folder / "alertmanager-secret.yaml"
    secret.write_text(secret.read_text().replace("slack_url: ", "slack_url: \n    - "))
    config = folder / "demo-configmap.yaml"
    config.write_text(config.read_text() + f"immutable: {SECRET}\n")
    (folder / "broken.yaml").write_text(f"kind: Secret\nstringData:\n  url: [{SECRET}\n")
    outputs = []
    for extra in ([], ["--json"]):
        capsys.readouterr()
        assert run(["-C", str(project), "validate", "dev", *extra]) == 1
        captured = capsys.readouterr()
        outputs.append(captured.out + captured.err)
        if extra:
            assert len(check_document(captured.out)["result"]["findings"]) == 3
    assert "alertmanager-secret.yaml: Secret/monitoring/alertmanager-main" in outputs[0]
    assert "demo-configmap.yaml" in outputs[0] and "broken.yaml" in outputs[0]
    for text in outputs:
        assert SECRET not in text
        assert "SEKRET" not in text and "hooks.slack.com" not in text


def test_kpb_toml_sets_versions_per_environment(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "kpb.toml").write_text(
        '[validate]\nkube-version = "1.34"\n\n'
        '[validate.environments.prd]\nkube-version = "1.31"\nstrict = true\n'
    )
    assert run(["-C", str(project), "-q", "build", "--all"]) == 0
    capsys.readouterr()
    assert run(["-C", str(project), "validate", "--all"]) == 0
    err = capsys.readouterr().err
    assert "dev: 7 objects, 0 errors, 0 warnings (Kubernetes 1.34)" in err
    assert "prd: 7 objects, 0 errors, 0 warnings (Kubernetes 1.31, strict)" in err
    assert run(["-C", str(project), "validate", "prd", "--kube-version", "1.36"]) == 0
    assert "(Kubernetes 1.36, strict)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('[validate]\nkube-version = "1.2"\n', "kpb.toml: [validate] kube-version: no schemas"),
        ("[validate]\nkube-version = 1.33\n", "kpb.toml: [validate] kube-version: expected"),
        ('[validate.environments.prd]\nstrict = "yes"\n', "[validate.environments.prd] strict"),
        ('[validate]\nkube-verison = "1.33"\n', "[validate] kube-verison: unknown key"),
        ("[validate]\ncrd-dirs = 3\n", "[validate] crd-dirs: expected a list"),
        ("[validate\n", "kpb.toml: not valid TOML"),
    ],
)
def test_a_bad_kpb_toml_is_one_line_exit_3(
    project: Path, capsys: pytest.CaptureFixture[str], text: str, named: str
) -> None:
    (project / "kpb.toml").write_text(text)
    assert run(["-C", str(project), "-q", "build", "--all"]) == 0
    capsys.readouterr()
    assert run(["-C", str(project), "validate", "--all"]) == 3
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and named in errors[0], err
    assert "Traceback" not in err


def test_bad_options_are_one_line_exit_3(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-C", str(project), "validate", "dev"]) == 3
    assert "manifests/dev/ does not exist: run 'kpb build dev' first" in capsys.readouterr().err
    assert run(["-C", str(project), "-q", "build", "dev"]) == 0
    for args, named in (
        (["--kube-version", "1.9"], "--kube-version: no schemas for Kubernetes 1.9"),
        (["--kube-version", "latest"], "--kube-version: 'latest' is not a Kubernetes version"),
        (["--crd-dir", "nowhere"], "--crd-dir nowhere: not a directory"),
    ):
        capsys.readouterr()
        assert run(["-C", str(project), "validate", "dev", *args]) == 3
        assert named in capsys.readouterr().err
    capsys.readouterr()
    assert run(["-C", str(project), "build", "dev", "--strict"]) == 3
    assert "need --validate" in capsys.readouterr().err


def test_make_check_fails_on_an_invalid_environment(tmp_path: Path) -> None:
    """``make check`` builds with --validate: a schema error fails it, naming the finding."""
    from tests.test_cli_init import _make_check

    project = validproject.make_project(tmp_path / "new")
    assert run(["-C", str(project), "-q", "init", "--minimal"]) == 0
    assert run(["-C", str(project), "-q", "vendor"]) == 0
    assert _make_check(project).returncode == 0
    _broken(project)
    done = _make_check(project)
    assert done.returncode != 0, done.stdout + done.stderr  # make: 2 when kpb exits 1
    assert "dev: demo-deployment.yaml: Deployment/monitoring/demo: $.spec.replicas" in done.stdout
    assert "error: validation failed: dev (2 errors, 0 warnings)" in done.stderr
    assert SECRET not in done.stdout + done.stderr


def test_the_cli_loads_no_schema_library_until_it_validates() -> None:
    """A build without --validate pays nothing for validation (memory, start-up)."""
    probe = (
        "import sys, kubeprom_build.cli.build_cmds, kubeprom_build.cli.validate_cmds\n"
        "print(sorted(m for m in ('jsonschema_rs', 're2', 'promql_parser') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert loaded == "[]"


@pytest.mark.parametrize("link", ["manifests", "manifests/dev"])
def test_a_committed_output_link_is_refused_not_read(
    project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], link: str
) -> None:
    """``manifests -> /elsewhere`` (or ``manifests/dev``) must not make kpb read outside the
    project: the output directory is checked component by component, as the build does."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "dev").mkdir(parents=True)
    (elsewhere / "dev" / "x.yaml").write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x}}\ndata: {{k: {SECRET}}}\n"
    )
    target = elsewhere if link == "manifests" else elsewhere / "dev"
    if link != "manifests":
        (project / "manifests").mkdir(exist_ok=True)
    (project / link).symlink_to(target, target_is_directory=True)
    capsys.readouterr()
    assert run(["-C", str(project), "validate", "dev"]) == 3
    out, err = capsys.readouterr()
    assert out == "" and f"{link}/ is a symlink" in err and SECRET not in err
    assert "objects" not in err  # nothing was read, so nothing was counted
