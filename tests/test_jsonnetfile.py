"""jsonnetfile/lock parsing and byte-exact writing as jb (v0.6.0) does it."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprom_build.errors import ConfigError
from kubeprom_build.vendoring import jsonnetfile
from kubeprom_build.vendoring.jsonnetfile import (
    Dependency,
    GitSource,
    JsonnetFile,
    LocalSource,
    Trust,
    dumps,
    load,
    parse,
    save_if_changed,
)
from tests.helpers.realworld import SKIP_REASON, kube_prometheus_dir

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str) -> bytes:
    return (GOLDEN / name).read_bytes()


def git(remote: str, subdir: str = "", version: str = "master", **kw: object) -> Dependency:
    return Dependency(GitSource(remote, subdir), version, **kw)  # type: ignore[arg-type]


# The model behind tests/golden/lock.json, deliberately out of order.
GOLDEN_MODEL = JsonnetFile(
    (
        git(
            "ssh://git@gitlab.example.com/group/sub/proj.git",
            "lib",
            "0123456789abcdef0123456789abcdef01234567",
            sum="nZbZ1bGt3X5+YRmiOx5bX2hUUxK/7LIdHNxq8iuGKLg=",
        ),
        git(
            "https://github.com/prometheus-operator/prometheus-operator.git",
            "jsonnet/mixin",
            "d8ba1c766a141cb35072ae2f2578ec8588c9efcd",
            sum="G2Tm4Kv20+qmGlRumdn3w/ccmCuwx0fpakHxyKABB48=",
            legacy_name_override="prometheus-operator-mixin",
        ),
        git(
            "https://github.com/example/lib.git",
            "sub&dir",
            "rel<1>&2",
            sum="vfbBVUW2eeJQCkUbf/fDC4eEZY4qVT1JE620ZRwKeNM=",
            legacy_name_override="odd<name>&ü",
        ),
        git(
            "https://github.com/example/lib-extra.git",
            version="main",
            sum="/KP/5KsHb47507GFl+MSs4mzp5pjX9ez/kOfvciT1VA=",
        ),
        git(
            "https://github.com/example/lib.git",
            version="v1.0.0",
            sum="drWjVzkSdrKCpRb1T0jvPCB/RtgZLcWMII1Rg9OEFfg=",
            single=True,
        ),
        git(
            "https://github.com/brancz/kubernetes-grafana.git",
            "grafana",
            "5698c8940b6dadca3f42107b7839557bc041761f",
            sum="ys5JG2lVXo0Pd3R9R65U4xzkzDIv5Rp73PZEAvNnbr8=",
            legacy_name_override="grafana",  # equals the default: dropped on write
        ),
        git("https://github.com/Zeta/z.git", sum="XMENkUOyz/CCz1+zcwc7E9AtEsmk0kqX2CLXAUBPtCE="),
        Dependency(LocalSource("jsonnet/a&b")),
    ),
    legacy_imports=True,
)


def test_lock_bytes_match_golden() -> None:
    assert dumps(GOLDEN_MODEL, lock=True) == golden("lock.json")


def test_jsonnetfile_bytes_keep_legacy_imports() -> None:
    expected = golden("lock.json").replace(b'"legacyImports": false', b'"legacyImports": true')
    assert dumps(GOLDEN_MODEL, lock=False) == expected


def test_golden_lock_round_trips() -> None:
    parsed = parse(golden("lock.json"), "lock.json", trust=Trust.TOP)
    assert dumps(parsed, lock=True) == golden("lock.json")
    assert parsed == jsonnetfile.normalized(
        JsonnetFile(tuple(sorted(GOLDEN_MODEL.dependencies, key=lambda d: d.name))), lock=True
    )


def test_v0_is_converted_to_v1() -> None:
    converted = parse(golden("v0-jsonnetfile.json"), "v0", trust=Trust.TOP)
    assert converted.legacy_imports is True
    assert [d.legacy_name for d in converted.dependencies] == [
        "ksonnet",
        "kubernetes-mixin",
        "etcd-mixin",
        "my-local",
        "grafonnet",
    ]
    assert dumps(converted, lock=False) == golden("v0-converted.json")


def test_init_file() -> None:
    assert dumps(JsonnetFile(), lock=False) == golden("init.json")


def test_names_and_legacy_names() -> None:
    deps = {
        d.name: d.legacy_name
        for d in (
            git("https://github.com/grafana/jsonnet-libs.git", "mixin-utils"),
            git("https://github.com/etcd-io/etcd.git", "contrib/mixin"),
            git("https://github.com/kubernetes-monitoring/kubernetes-mixin.git"),
            git(
                "https://github.com/x/pyrra.git",
                "jsonnet/controller-gen",
                legacy_name_override="pyrra",
            ),
            Dependency(LocalSource("../jsonnet/kube-prometheus")),
        )
    }
    assert deps == {
        "github.com/grafana/jsonnet-libs/mixin-utils": "mixin-utils",
        "github.com/etcd-io/etcd/contrib/mixin": "mixin",
        "github.com/kubernetes-monitoring/kubernetes-mixin": "kubernetes-mixin",
        "github.com/x/pyrra/jsonnet/controller-gen": "pyrra",
        "kube-prometheus": "kube-prometheus",
    }


def dep_json(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "source": {"git": {"remote": "https://github.com/x/y", "subdir": ""}},
        "version": "main",
    }
    base.update(fields)
    return base


def doc(*deps: dict[str, object], **top: object) -> bytes:
    return json.dumps({"version": 1, "dependencies": list(deps), **top}).encode()


def test_version_zero_or_missing_means_v0() -> None:
    v0_dep = {"name": "yy", **dep_json()}
    for top in ({"version": 0}, {}, {"version": None}):
        parsed = parse(json.dumps({**top, "dependencies": [v0_dep]}).encode(), "f", trust=Trust.TOP)
        assert parsed.legacy_imports is True
        assert parsed.dependencies[0].legacy_name_override == "yy"


def test_v1_defaults() -> None:
    assert parse(b'{"version": 1}', "f", trust=Trust.TOP) == JsonnetFile((), legacy_imports=True)
    assert (
        parse(b'{"version":1,"legacyImports":false}', "f", trust=Trust.TOP).legacy_imports is False
    )
    assert parse(b"", "f", trust=Trust.TOP) == JsonnetFile((), legacy_imports=True)


def test_remote_without_dot_git_is_written_canonically() -> None:
    parsed = parse(doc(dep_json()), "f", trust=Trust.TOP)
    assert parsed.dependencies[0].source == GitSource("https://github.com/x/y.git")
    assert b'"remote": "https://github.com/x/y.git"' in dumps(parsed, lock=True)


def test_subdir_slashes_are_tolerated() -> None:
    dep = dep_json(source={"git": {"remote": "https://github.com/x/y.git", "subdir": "/a/b/"}})
    parsed = parse(doc(dep), "f", trust=Trust.TOP).dependencies[0]
    assert parsed.source == GitSource("https://github.com/x/y.git", "a/b")
    assert parsed.name == "github.com/x/y/a/b"


def test_missing_subdir_and_version_read_as_empty() -> None:
    dep: dict[str, object] = {"source": {"git": {"remote": "https://github.com/x/y.git"}}}
    assert parse(doc(dep), "f", trust=Trust.TOP).dependencies[0] == git(
        "https://github.com/x/y.git", version=""
    )


def test_lock_is_always_written_without_legacy_imports() -> None:
    assert dumps(JsonnetFile((), legacy_imports=True), lock=True).endswith(
        b'"legacyImports": false\n}\n'
    )


def test_unknown_fields_are_ignored_like_go() -> None:
    parsed = parse(doc(dep_json(extra=1), comment="x"), "f", trust=Trust.TOP)
    assert parsed.names() == ("github.com/x/y",)


def test_repeated_name_keeps_the_first_position_and_the_last_value() -> None:
    other = dep_json(source={"git": {"remote": "https://github.com/a/b.git", "subdir": ""}})
    parsed = parse(
        doc(dep_json(version="one"), other, dep_json(version="two")), "f", trust=Trust.TOP
    )
    assert parsed.names() == ("github.com/x/y", "github.com/a/b")
    assert parsed.dependencies[0].version == "two"


HOSTILE = [
    (b"{not json", "not valid JSON"),
    (b"\xef\xbb\xbf{}", "not valid JSON"),
    (b'{"version": 1, "x": NaN}', "not valid JSON"),
    (b"\xff", "not valid JSON"),
    (b"[]", "top level: expected an object, got array"),
    (b" ", "not valid JSON"),
    (b'{"version": 2}', "version: 2 is unknown"),
    (b'{"version": "1"}', "version: expected int, got string"),
    (b'{"version": true}', "version: expected int, got boolean"),
    (b'{"version": 1, "dependencies": {}}', "dependencies: expected list, got object"),
    (b'{"version": 1, "legacyImports": "yes"}', "legacyImports: expected bool"),
    (doc({"version": "x"}), "dependencies[0]: dependency has no source"),
    (doc(dep_json(source={})), "dependencies[0].source: dependency has no source"),
    (doc(dep_json(source={"oci": {}})), "dependencies[0].source: dependency has no source"),
    (
        doc(dep_json(source={"git": {"remote": "https://a.com/b/c"}, "local": {"directory": "x"}})),
        "both git and local",
    ),
    (doc(dep_json(source={"git": "x"})), "source.git: expected an object, got string"),
    (doc(dep_json(source={"git": {"remote": 5}})), "source.git.remote: expected str, got number"),
    (doc(dep_json(source={"git": {"remote": ""}})), "source.git.remote: remote is empty"),
    (
        doc(dep_json(source={"git": {"remote": "--upload-pack=touch /tmp/pwned"}})),
        "must not start with '-'",
    ),
    (doc(dep_json(source={"git": {"remote": "ext::sh -c touch% /tmp/pwned"}})), "transport"),
    (doc(dep_json(source={"git": {"remote": "nowhere"}})), "source.git.remote: cannot parse"),
    (
        doc(dep_json(source={"git": {"remote": "ssh://git@h.com/../../x/y.git"}})),
        "unsafe package name",
    ),
    (
        doc(dep_json(source={"git": {"remote": "https://github.com/x/y", "subdir": "../../etc"}})),
        "source.git.subdir",
    ),
    (
        doc(dep_json(source={"git": {"remote": "https://github.com/x/y", "subdir": "a/../../b"}})),
        "source.git.subdir",
    ),
    (
        doc(dep_json(source={"git": {"remote": "https://github.com/x/y", "subdir": "a\\b"}})),
        "source.git.subdir",
    ),
    (
        doc(dep_json(source={"git": {"remote": "https://github.com/x/y", "subdir": 3}})),
        "source.git.subdir",
    ),
    (doc(dep_json(source={"local": {"directory": ""}})), "source.local.directory"),
    (doc(dep_json(source={"local": {}})), "source.local.directory"),
    (doc(dep_json(source={"local": {"directory": "a\x00b"}})), "source.local.directory"),
    (doc(dep_json(source={"local": {"directory": ".."}})), "source.local.directory"),
    (doc(dep_json(source={"local": {"directory": "."}})), "source.local.directory"),
    (doc(dep_json(version="--upload-pack=touch /tmp/pwned")), "dependencies[0].version"),
    (doc(dep_json(version="-b")), "dependencies[0].version"),
    (doc(dep_json(version="a b")), "dependencies[0].version"),
    (doc(dep_json(version="x..y")), "dependencies[0].version"),
    (doc(dep_json(version=1)), "dependencies[0].version: expected str"),
    (doc(dep_json(sum="abc")), "dependencies[0].sum"),
    (doc(dep_json(sum="47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU")), "dependencies[0].sum"),
    (doc(dep_json(single="yes")), "dependencies[0].single: expected bool"),
    (doc(dep_json(name="/etc")), "dependencies[0].name"),
    (doc(dep_json(name="../../x")), "dependencies[0].name"),
    (doc(dep_json(name="a/../../b")), "dependencies[0].name"),
    (doc(dep_json(name="a\\b")), "dependencies[0].name"),
    (doc(dep_json(name="a//b")), "dependencies[0].name"),
    (doc(dep_json(name="a\x00")), "dependencies[0].name"),
    (doc(dep_json(), dep_json(version="-x")), "dependencies[1].version"),
]


@pytest.mark.parametrize(("data", "message"), HOSTILE)
def test_bad_input_is_one_line_naming_file_and_field(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(data, "vendor/pkg/jsonnetfile.json", trust=Trust.TOP)
    text = str(info.value)
    assert text.startswith("vendor/pkg/jsonnetfile.json: ")
    assert message in text
    assert "\n" not in text


def test_v0_dependency_errors_name_the_field() -> None:
    data = b'{"dependencies": [{"name": "../x", "source": {"local": {"directory": "d"}}}]}'
    with pytest.raises(ConfigError, match=r"f: dependencies\[0\]\.name"):
        parse(data, "f", trust=Trust.TOP)


def test_load_missing(tmp_path: Path) -> None:
    assert load(tmp_path / "jsonnetfile.lock.json", missing_ok=True) == JsonnetFile()
    with pytest.raises(ConfigError, match=r"jsonnetfile\.json: not found"):
        load(tmp_path / "jsonnetfile.json", missing_ok=False)
    with pytest.raises(ConfigError, match="not a regular file"):
        load(tmp_path, missing_ok=True)


def test_load_empty_file(tmp_path: Path) -> None:
    (tmp_path / "jsonnetfile.json").write_bytes(b"")
    assert load(tmp_path / "jsonnetfile.json", missing_ok=False) == JsonnetFile((), True)


def test_save_writes_missing_and_changed_files(tmp_path: Path) -> None:
    path = tmp_path / "jsonnetfile.lock.json"
    assert save_if_changed(path, GOLDEN_MODEL, lock=True) is True
    assert path.read_bytes() == golden("lock.json")
    assert save_if_changed(path, parse(path.read_bytes(), "x", trust=Trust.TOP), lock=True) is False
    changed = GOLDEN_MODEL.with_dependency(git("https://github.com/new/one.git"))
    assert save_if_changed(path, changed, lock=True) is True
    assert b"github.com/new/one.git" in path.read_bytes()


def test_save_leaves_equal_but_differently_formatted_files(tmp_path: Path) -> None:
    path = tmp_path / "jsonnetfile.json"
    compact = doc(dep_json(source={"git": {"remote": "https://github.com/x/y", "subdir": ""}}))
    path.write_bytes(compact)
    os.utime(path, (1, 1))
    assert save_if_changed(path, parse(compact, "f", trust=Trust.TOP), lock=False) is False
    assert path.read_bytes() == compact
    assert path.stat().st_mtime == 1


def test_save_rewrites_unsorted_lock_and_redundant_names(tmp_path: Path) -> None:
    path = tmp_path / "jsonnetfile.lock.json"
    first = dep_json(source={"git": {"remote": "https://github.com/z/z.git", "subdir": ""}})
    second = dep_json(name="y")  # equals the default legacy name of github.com/x/y
    path.write_bytes(doc(first, second, legacyImports=False))
    model = parse(path.read_bytes(), "f", trust=Trust.TOP)
    assert save_if_changed(path, model, lock=True) is True
    rewritten = parse(path.read_bytes(), "f", trust=Trust.TOP)
    assert rewritten.names() == ("github.com/x/y", "github.com/z/z")
    assert all(d.legacy_name_override == "" for d in rewritten.dependencies)


def test_save_rewrites_lock_claiming_legacy_imports(tmp_path: Path) -> None:
    path = tmp_path / "jsonnetfile.lock.json"
    path.write_bytes(doc(dep_json(), legacyImports=True))
    assert save_if_changed(path, parse(path.read_bytes(), "f", trust=Trust.TOP), lock=True) is True
    assert parse(path.read_bytes(), "f", trust=Trust.TOP).legacy_imports is False


def test_with_dependency_and_without() -> None:
    base = JsonnetFile((git("https://github.com/a/a.git"), git("https://github.com/b/b.git")))
    moved = base.with_dependency(git("https://github.com/a/a.git", version="v2"))
    assert moved.names() == base.names()
    assert moved.get("github.com/a/a") == git("https://github.com/a/a.git", version="v2")
    added = base.with_dependency(git("https://github.com/c/c.git"))
    assert added.names()[-1] == "github.com/c/c"
    assert base.without("github.com/a/a").names() == ("github.com/b/b",)
    assert base.get("nope") is None


def test_local_path_under_joins_like_go(tmp_path: Path) -> None:
    assert LocalSource("/abs/lib").path_under(tmp_path) == tmp_path / "abs" / "lib"
    assert LocalSource("../sib").path_under(tmp_path / "p") == tmp_path / "p" / ".." / "sib"


# --------------------------------------------------------------------------- properties

_COMP = st.text(alphabet="abcxyz019-_", min_size=1, max_size=6).filter(lambda s: s[0] != "-")
_FUNNY = st.text(alphabet="abz19-_<>&ü", min_size=1, max_size=6).filter(lambda s: s != "-")
_HOST = st.sampled_from(["github.com", "gitlab.example.com", "git.corp.io"])
_SUM = st.binary(min_size=32, max_size=32).map(lambda b: base64.b64encode(b).decode())
_VERSION = st.one_of(
    st.sampled_from(["master", "main", "v0.18.0", "release-0.14"]),
    st.text(alphabet="0123456789abcdef", min_size=40, max_size=40),
    st.lists(_FUNNY.filter(lambda s: not s.startswith("-")), min_size=1, max_size=3).map("/".join),
)


@st.composite
def _git_source(draw: st.DrawFn) -> GitSource:
    host, user, repo = draw(_HOST), draw(_COMP), draw(_COMP)
    remote = draw(
        st.sampled_from(
            [
                f"https://{host}/{user}/{repo}.git",
                f"ssh://git@{host}/{user}/{repo}.git",
                f"file:///tmp/remotes/{host}/{user}/{repo}.git",
            ]
        )
    )
    subdir = "/".join(draw(st.lists(_FUNNY, max_size=3)))
    return GitSource(remote, subdir)


_DEPENDENCY = st.one_of(
    st.builds(
        Dependency,
        source=_git_source(),
        version=_VERSION,
        sum=st.one_of(st.just(""), _SUM),
        single=st.booleans(),
        legacy_name_override=st.one_of(st.just(""), _FUNNY),
    ),
    st.builds(
        Dependency,
        source=st.builds(LocalSource, st.lists(_FUNNY, min_size=1, max_size=3).map("/".join)),
        legacy_name_override=st.one_of(st.just(""), _FUNNY),
    ),
)
_JSONNETFILE = st.builds(
    JsonnetFile,
    dependencies=st.lists(_DEPENDENCY, max_size=6, unique_by=lambda d: d.name).map(tuple),
    legacy_imports=st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(_JSONNETFILE, st.booleans())
def test_round_trip(model: JsonnetFile, lock: bool) -> None:
    written = dumps(model, lock=lock)
    parsed = parse(written, "generated", trust=Trust.TOP)
    expected = jsonnetfile.normalized(model, lock=lock)
    assert parsed == JsonnetFile(
        tuple(sorted(expected.dependencies, key=lambda d: d.name)), expected.legacy_imports
    )
    assert dumps(parsed, lock=lock) == written
    assert written.endswith(b"}\n") and not written.endswith(b"\n\n")
    assert b"<" not in written and b">" not in written and b"&" not in written


REALWORLD = str(kube_prometheus_dir() or "")


@pytest.mark.realworld
@pytest.mark.skipif(not REALWORLD, reason=SKIP_REASON)
def test_jb_written_files_round_trip_byte_for_byte() -> None:
    src = Path(REALWORLD) / "src"
    for name, lock in ((jsonnetfile.FILE, False), (jsonnetfile.LOCK_FILE, True)):
        data = (src / name).read_bytes()
        assert dumps(parse(data, name, trust=Trust.TOP), lock=lock) == data
