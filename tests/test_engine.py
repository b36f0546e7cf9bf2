"""The engines and the import resolver: same results from rs, go and cpp; confinement holds."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from kubeprom_build.errors import ConfigError
from kubeprom_build.rendering.engine import (
    TRAITS,
    JsonnetError,
    available_engines,
    get_engine,
)
from kubeprom_build.rendering.imports import Importer
from tests.helpers import projects

ENGINES = ["rs", "go", "cpp"]


def _importer(root: Path, extra: list[Path] | None = None) -> Importer:
    library = [root / "jsonnet", root / "vendor", *(extra or [])]
    return Importer(root, library, [root, *library])


def _eval(name: str, root: Path, source: str, importer: Importer | None = None) -> object:
    env = projects.set_env(root, "t", source).relative_to(root)
    text = get_engine(name).evaluate(env, import_callback=importer or _importer(root))
    return json.loads(text)


def test_all_three_engines_installed_and_default_is_fastest() -> None:
    assert available_engines() == ENGINES
    assert get_engine().name == "rs"


def test_env_var_selects_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPB_ENGINE", "go")
    assert get_engine().name == "go"
    assert get_engine("cpp").name == "cpp"


def test_unknown_engine_lists_choices() -> None:
    with pytest.raises(ConfigError, match="choose one of rs, go, cpp"):
        get_engine("java")


@pytest.mark.parametrize("name", ENGINES)
def test_versions_are_plain(name: str) -> None:
    version = get_engine(name).version
    assert version and version[0].isdigit()
    assert TRAITS[name].module


def test_engines_agree_on_fixture_project(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    source = (root / "environments" / "prd.jsonnet").read_text()
    results = [_eval(name, root, source) for name in ENGINES]
    assert results[0] == results[1] == results[2]
    assert isinstance(results[0], dict)
    assert results[0]["extra-configmap"]["data"] == {"from": "localdep"}


@pytest.mark.parametrize("name", ENGINES)
def test_import_precedence_is_own_dir_then_jsonnet_vendor_jpath(name: str, tmp_path: Path) -> None:
    root = projects.make_jpath_project(tmp_path / "p")
    importer = _importer(root, [root / "extra"])
    env = Path("environments/which.jsonnet")
    out = json.loads(get_engine(name).evaluate(env, import_callback=importer))
    assert out["which"] == {"a": "environments", "b": "jsonnet", "c": "vendor", "d": "extra"}


@pytest.mark.parametrize("name", ENGINES)
def test_jpath_without_callback_has_same_precedence(name: str, tmp_path: Path) -> None:
    root = projects.make_jpath_project(tmp_path / "p")
    jpath = [root / "jsonnet", root / "vendor", root / "extra"]
    env = root / "environments" / "which.jsonnet"
    out = json.loads(get_engine(name).evaluate(env, jpath=jpath))
    assert out["which"] == {"a": "environments", "b": "jsonnet", "c": "vendor", "d": "extra"}


@pytest.mark.parametrize("name", ENGINES)
def test_legacy_vendor_symlink_resolves(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.write_files(root, {f"vendor/{projects.KP}/where.libsonnet": "'kp'\n"})
    assert _eval(name, root, "import 'kube-prometheus/where.libsonnet'") == "kp"


@pytest.mark.parametrize("name", ["go", "cpp"])  # rjsonnet is built without std.thisFile
def test_thisfile_is_project_relative(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    projects.write_files(root, {f"vendor/{projects.KP}/where.libsonnet": "std.thisFile\n"})
    out = _eval(name, root, "{ a: import 'kube-prometheus/where.libsonnet', b: std.thisFile }")
    assert out == {"a": "vendor/kube-prometheus/where.libsonnet", "b": "environments/t.jsonnet"}


@pytest.mark.parametrize(
    "make_escape",
    [
        lambda root, outside: f"'{os.path.relpath(outside, root / 'environments')}'",
        lambda root, outside: f"'{outside}'",
    ],
    ids=["dotdot", "absolute"],
)
@pytest.mark.parametrize("name", ENGINES)
def test_import_outside_repository_is_refused(
    name: str, make_escape: object, tmp_path: Path
) -> None:
    root = projects.make_project(tmp_path / "p")
    outside = tmp_path / "secret.libsonnet"
    outside.write_text("'stolen'\n")
    assert callable(make_escape)
    importer = _importer(root)
    with pytest.raises(JsonnetError):
        _eval(name, root, f"import {make_escape(root, outside)}", importer)
    assert importer.refused is not None
    assert "secret.libsonnet" in str(importer.refused)
    assert "outside the project" in str(importer.refused)


@pytest.mark.parametrize("name", ENGINES)
def test_symlink_escaping_repository_is_refused(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "x.libsonnet").write_text("'stolen'\n")
    os.symlink(tmp_path / "elsewhere", root / "vendor" / "evil")
    importer = _importer(root)
    with pytest.raises(JsonnetError):
        _eval(name, root, "import 'evil/x.libsonnet'", importer)
    assert importer.refused is not None


def test_symlink_to_sibling_inside_repository_is_allowed(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    out = _eval("rs", root, "(import 'localdep/extra.libsonnet').configmap('x').data")
    assert out == {"from": "localdep"}


def test_extra_library_outside_repository_is_allowed(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    extra = tmp_path / "lib"
    projects.write_files(extra, {"mine.libsonnet": "'mine'\n"})
    out = _eval("go", root, "import 'mine.libsonnet'", _importer(root, [extra]))
    assert out == "mine"


def test_importer_reads_each_file_once_and_records_lookups(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    importer = _importer(root)
    _eval("go", root, "[import 'cluster.libsonnet', import 'cluster.libsonnet']", importer)
    assert "jsonnet/cluster.libsonnet" in importer.files
    lookup = importer.lookups[("environments/", "cluster.libsonnet")]
    assert lookup.found == "jsonnet/cluster.libsonnet"
    assert lookup.missing == ("environments/cluster.libsonnet",)
    assert importer("environments/", "cluster.libsonnet") is importer(
        "environments/", "cluster.libsonnet"
    )


@pytest.mark.parametrize("name", ENGINES)
def test_importstr_and_importbin(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    (root / "jsonnet" / "data.txt").write_bytes(b"hi\n")
    out = _eval(name, root, "{ s: importstr 'data.txt', b: importbin 'data.txt' }")
    assert out == {"s": "hi\n", "b": [104, 105, 10]}


def test_binary_import_with_rs_names_the_file(tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    (root / "jsonnet" / "blob.bin").write_bytes(b"\xff\xfe")
    with pytest.raises(JsonnetError, match=r"blob\.bin is not UTF-8"):
        _eval("rs", root, "importbin 'blob.bin'")
    assert _eval("go", root, "importbin 'blob.bin'") == [255, 254]


@pytest.mark.parametrize("name", ENGINES)
def test_syntax_error_carries_location(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    with pytest.raises(JsonnetError) as caught:
        _eval(name, root, "{\n  a: 1,\n  b: \n}\n")
    assert "environments/t.jsonnet:4" in caught.value.raw
    assert pickle.loads(pickle.dumps(caught.value)).raw == caught.value.raw  # from a worker


@pytest.mark.parametrize("name", ENGINES)
def test_ext_vars_and_tlas_reach_the_program(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    env = projects.set_env(root, "t", "function(t, c) [std.extVar('e'), std.extVar('k'), t, c]")
    text = get_engine(name).evaluate(
        env.relative_to(root),
        ext_vars={"e": "E"},
        ext_codes={"k": "1 + 1"},
        tla_vars={"t": "T"},
        tla_codes={"c": "{ x: 1 }"},
        import_callback=_importer(root),
    )
    assert json.loads(text) == ["E", 2, "T", {"x": 1}]


@pytest.mark.parametrize("name", ENGINES)
def test_main_file_that_is_not_utf8_is_an_engine_error(name: str, tmp_path: Path) -> None:
    root = projects.make_project(tmp_path / "p")
    (root / "environments" / "bad.jsonnet").write_bytes(b"{ a: '\xff' }")
    with pytest.raises(JsonnetError, match="not UTF-8"):
        get_engine(name).evaluate(Path("environments/bad.jsonnet"), import_callback=_importer(root))


def test_known_divergence_cpp_prints_floats_in_manifested_strings_with_17_digits(
    tmp_path: Path,
) -> None:
    """Why kube-prometheus's dashboards differ under cpp (0.6 → 0.59999999999999998).

    The float is printed by the engine inside a string (``std.manifestJsonEx``), so no YAML
    emitter can undo it. If this starts failing, cpp agrees with go/rs: update the warning.
    """
    source = tmp_path / "f.jsonnet"
    source.write_text("std.manifestJsonEx({ w: 0.6 }, ' ')")
    outputs = {name: json.loads(get_engine(name).evaluate(source)) for name in ENGINES}
    assert outputs["rs"] == outputs["go"] == '{\n "w": 0.6\n}'
    assert outputs["cpp"] == '{\n "w": 0.59999999999999998\n}'
