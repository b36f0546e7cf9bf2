"""The build pipeline as a library: contract checks, error messages, incremental builds."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from kubeprom_build.errors import BuildError, ConfigError
from kubeprom_build.rendering import buildstate, engineerrors, manifests, outputs
from kubeprom_build.rendering import pipeline as build
from kubeprom_build.rendering.engine import get_engine
from kubeprom_build.rendering.extvars import Variables, parse_variables
from kubeprom_build.rendering.imports import ImportRefusedError
from tests.helpers import projects

ENGINES = ["rs", "go", "cpp"]


def _request(root: Path, **changes: object) -> build.BuildRequest:
    request = build.BuildRequest(project=root, vendor_dir=root / "vendor")
    return dataclasses.replace(request, **changes)  # type: ignore[arg-type]


def _files(data: object) -> dict[str, bytes]:
    return outputs.output_files("dev", data)


@pytest.mark.parametrize(
    "key",
    ["", "/etc/passwd", "~root", "a/../b", "..", "a\\b", "a\x00b", "a//b", "./a", "a/", "a\nb"],
)
def test_unsafe_output_keys_are_refused(key: str) -> None:
    with pytest.raises(BuildError, match="output key"):
        _files({key: {"kind": "x"}})


def test_subdirectory_keys_are_fine() -> None:
    assert set(_files({"setup/ns": {"a": 1}, "b": {}})) == {"setup/ns.yaml", "b.yaml"}


@pytest.mark.parametrize(
    "keys",
    [["Prometheus", "prometheus"], ["x", "X.yaml/y"], ["setup/A", "SETUP/a"]],
)
def test_case_and_file_dir_collisions_are_refused(keys: list[str]) -> None:
    with pytest.raises(BuildError, match=r"differ only in case|also used as a directory"):
        _files({k: {} for k in keys})


@pytest.mark.parametrize("value", [[{"kind": "x"}], "text", 1, None, True])
def test_every_value_must_be_an_object(value: object) -> None:
    with pytest.raises(BuildError, match="key 'a' must be an object") as caught:
        _files({"a": value})
    assert "  | " in str(caught.value)


@pytest.mark.parametrize("top", [[1, 2], "x", 3, None])
def test_top_level_must_be_an_object(top: object) -> None:
    with pytest.raises(BuildError, match="output must be an object mapping file names"):
        _files(top)


def test_out_of_contract_value_names_key_and_path_with_short_sample() -> None:
    bad = {"bad": "a\u2028b", **{f"k{i}": i for i in range(20)}}
    doc = {"kind": "ConfigMap", "data": {"k": [0, bad]}}
    with pytest.raises(BuildError) as caught:
        outputs.output_files("dev", {"cm": doc})
    message = str(caught.value)
    first, *sample = message.split("\n")
    assert first.startswith("environment 'dev': key 'cm' at data.k[1].bad")
    assert '"bad": "a\\u2028b"' in message
    assert 0 < len(sample) <= 10
    assert sample[-1].endswith("...")


def _render(root: Path, env: str, engine: str) -> dict[str, bytes]:
    request = _request(root)
    rendered = build.render(request, env, get_engine(engine), buildstate.new_salt())
    return dict(rendered.files)


def test_engines_render_identical_yaml(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "big", projects.many_large_env(5, 1000))
    for env in ("dev", "big"):
        results = [_render(root, env, e) for e in ENGINES]
        assert results[0] == results[1] == results[2]
    dev = _render(root, "dev", "rs")
    assert set(dev) == {
        "extra-configmap.yaml",
        "grafana-dashboards.yaml",
        "prometheus-prometheus.yaml",
        "prometheus-rules.yaml",
        "setup/0namespace-namespace.yaml",
    }
    assert b"  ratio: 0.5\n" in dev["prometheus-prometheus.yaml"]
    assert b"  big: 1000000\n" in dev["prometheus-prometheus.yaml"]
    assert b'  "yes": "yes"\n' in dev["grafana-dashboards.yaml"]
    assert b"  overview.json: |-\n" in dev["grafana-dashboards.yaml"]


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_errors_are_cut_to_location_and_summary(engine: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "dev", "local f(x) = error 'boom ' + x;\n{\n  a: { b: f('z') },\n}\n")
    with pytest.raises(BuildError) as caught:
        _render(root, "dev", engine)
    first, *trace = str(caught.value).splitlines()
    assert first == "environment 'dev': environments/dev.jsonnet:1:14: boom z"
    assert 0 < len(trace) <= 8
    projects.set_env(root, "dev", "{\n  a: 1,\n  b: \n}\n")
    with pytest.raises(BuildError, match=r"environments/dev\.jsonnet:4:1: "):
        _render(root, "dev", engine)


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_ext_var_is_named(engine: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "dev", "{ a: { b: std.extVar('grafana_password') } }")
    with pytest.raises(BuildError, match="external variable 'grafana_password' is not set"):
        _render(root, "dev", engine)


def test_engine_error_redacts_secret(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "dev", "{ a: error 'bad ' + std.extVar('pw') }")
    request = _request(root, variables=Variables(ext_vars={"pw": "hunter2hunter2"}))
    with pytest.raises(BuildError) as caught:
        build.render(request, "dev", get_engine("go"), buildstate.new_salt())
    assert "hunter2" not in str(caught.value)
    assert "bad ***" in str(caught.value)


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_import_points_at_the_import(engine: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "dev", "{\n  a: (import 'nope.libsonnet').x,\n}\n")
    with pytest.raises(BuildError) as caught:
        _render(root, "dev", engine)
    first = str(caught.value).splitlines()[0]
    assert first.startswith("environment 'dev': environments/dev.jsonnet:2:7: ")
    assert "cannot find 'nope.libsonnet' imported from environments/" in first


def test_import_escape_is_reported_as_refusal(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    (tmp_path / "outside.libsonnet").write_text("{}")
    projects.set_env(root, "dev", "import '../../outside.libsonnet'")
    result = build.build(_request(root, engine="rs"), ["dev"]).results[0]
    assert isinstance(result.error, ImportRefusedError)
    assert "outside the project's repository" in str(result.error)
    assert not (root / "manifests").exists()


@pytest.mark.parametrize("jobs", [1, 2], ids=["in-process", "workers"])
def test_errors_keep_their_type_in_results(jobs: int, tmp_path: Path) -> None:
    """The CLI takes the exit code and ``kind`` from the class, also from a worker process."""
    root = projects.make_project(tmp_path / "p")
    (tmp_path / "outside.libsonnet").write_text("{}")
    projects.set_env(root, "dev", "import '../../outside.libsonnet'")
    projects.set_env(root, "prd", "{ a: { b: error 'kaputt' } }")
    dev, prd = build.build(_request(root), ["dev", "prd"], jobs=jobs).results
    assert isinstance(dev.error, ImportRefusedError)
    assert "outside the project's repository" in str(dev.error)
    assert type(prd.error) is BuildError
    assert str(prd.error).startswith("environment 'prd': environments/prd.jsonnet:1:")
    assert "kaputt" in str(prd.error).splitlines()[0]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["import", "importstr", "importbin"])
def test_refused_or_missing_import_of_any_kind_fails(
    engine: str, kind: str, tmp_path: Path
) -> None:
    root = projects.make_project(tmp_path / "p")
    (tmp_path / "outside.txt").write_text("secret")
    projects.set_env(root, "dev", f"{{ a: {{ v: {kind} '../../outside.txt' }} }}")
    result = build.build(_request(root, engine=engine), ["dev"]).results[0]
    assert isinstance(result.error, ImportRefusedError)
    assert "outside the project's repository" in str(result.error)
    projects.set_env(root, "dev", f"{{ a: {{ v: {kind} 'nope.txt' }} }}")
    result = build.build(_request(root, engine=engine), ["dev"]).results[0]
    assert result.error is not None and "cannot find 'nope.txt'" in str(result.error)
    assert not (root / "manifests").exists()


def test_missing_environment_lists_existing(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    with pytest.raises(ConfigError, match=r"no environment 'stg'.*existing: dev, prd"):
        build.build(_request(root), ["dev", "stg"])
    assert not (root / "manifests").exists()
    with pytest.raises(ConfigError, match="not a plain name"):
        build.build(_request(root), ["dev", "../dev"])
    assert not (root / "manifests").exists()


def test_parallel_build_of_several_environments(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    report = build.build(_request(root), ["dev", "prd"], jobs=2)
    assert report.ok, report
    assert [r.env for r in report.results] == ["dev", "prd"]
    dev = manifests.read_tree(root / "manifests" / "dev")
    prd = manifests.read_tree(root / "manifests" / "prd")
    assert dev.keys() == prd.keys()
    assert dev != prd


def _build(request: build.BuildRequest) -> build.EnvResult:
    result = build.build(request, ["dev"]).results[0]
    assert result.error is None, str(result.error)
    return result


def test_incremental_skip_and_invalidation(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    request = _request(root)
    assert not _build(request).skipped
    assert _build(request).skipped
    assert not _build(dataclasses.replace(request, force=True)).skipped
    assert _build(request).skipped

    # an imported file changes
    lib = root / "jsonnet" / "cluster.libsonnet"
    lib.write_text(lib.read_text() + "\n")
    assert not _build(request).skipped
    assert _build(request).skipped

    # a new file would now shadow an import (environments/ is searched before jsonnet/)
    (root / "environments" / "cluster.libsonnet").write_text(lib.read_text())
    assert not _build(request).skipped
    (root / "environments" / "cluster.libsonnet").unlink()
    assert not _build(request).skipped

    # the engine changes
    assert not _build(dataclasses.replace(request, engine="go")).skipped
    assert _build(dataclasses.replace(request, engine="go")).skipped

    # an output file is tampered with: rebuilt and repaired
    out = root / "manifests" / "dev" / "extra-configmap.yaml"
    good = out.read_bytes()
    out.write_bytes(b"tampered\n")
    result = _build(request)
    assert not result.skipped
    assert result.diff is not None and result.diff.changed == ("extra-configmap.yaml",)
    assert out.read_bytes() == good


def test_ext_var_change_invalidates_and_value_is_not_stored(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.set_env(root, "dev", "{ s: { kind: 'Secret', data: { pw: std.extVar('pw') } } }")
    first = _request(root, variables=parse_variables([("--ext-str", "pw=first-secret-value")]))
    second = _request(root, variables=parse_variables([("--ext-str", "pw=second-secret-value")]))
    assert not _build(first).skipped
    assert _build(first).skipped
    assert not _build(second).skipped
    stamp = (root / ".kpb" / "build" / "dev.json").read_text()
    assert "secret-value" not in stamp
    assert json.loads(stamp)["format"] == buildstate.FORMAT


def test_failed_build_keeps_outputs_and_forces_next_build(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    _build(_request(root))
    before = manifests.read_tree(root / "manifests" / "dev")
    good = (root / "environments" / "dev.jsonnet").read_text()
    projects.set_env(root, "dev", "{ a: [] }")
    result = build.build(_request(root), ["dev"]).results[0]
    assert result.error is not None
    assert manifests.read_tree(root / "manifests" / "dev") == before
    projects.set_env(root, "dev", good)
    assert _build(_request(root)).skipped  # inputs are back to what produced the outputs


def test_check_reports_differences_without_writing(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    _build(_request(root))
    projects.set_env(root, "dev", projects.env_source("dev", replicas=5))
    before = manifests.read_tree(root / "manifests" / "dev")
    result = build.build(_request(root, check=True), ["dev"]).results[0]
    assert result.diff is not None
    assert result.diff.changed == ("prometheus-prometheus.yaml",)
    assert manifests.read_tree(root / "manifests" / "dev") == before


def test_cpp_on_large_vendor_tree_warns_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.write_files(root, {f"vendor/bulk/f{i}.libsonnet": "{}" for i in range(300)})
    build.build(_request(root, engine="cpp"), ["dev", "prd"], jobs=1)
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    assert "much slower" in warned[0]
    caplog.clear()
    build.build(_request(root, engine="rs"), ["dev"])
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_engine_message_does_not_repeat_the_location_as_a_trace() -> None:
    raw = (
        'STATIC ERROR: environments/bad.jsonnet:1:3: expected one of "}", got "EOF"\n'
        "\tenvironments/bad.jsonnet:1:3\n"
    )
    message = engineerrors.engine_message("bad", raw)
    assert message == (
        'environment \'bad\': environments/bad.jsonnet:1:3: expected one of "}", got "EOF"'
    )
