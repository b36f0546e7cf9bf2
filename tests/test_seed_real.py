"""The 2019 setup kpb grew out of, against the real kube-prometheus v0.3.0 (issue 12).

Opt-in (``realworld``): needs ``$KPB_MIRRORS`` with ``kp-v0.3.0/src`` and the mirrors of its
dependencies (docs/realworld.md). The reference pipeline is the one the article used: ``jb
install`` (v0.6.0, on PATH as ``jb``), then go-jsonnet ``-J vendor -m`` and ``gojsontoyaml`` (on
PATH) per output file. Comparisons are byte for byte: vendor tree, lock, and every manifest.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.realworld import SKIP_REASON, mirrors_dir
from tests.helpers.seed import ARTICLE, article_files

MIRRORS = mirrors_dir()
SEED = MIRRORS / "kp-v0.3.0" if MIRRORS else None
DASHBOARD = Path(__file__).resolve().parent.parent / "jsonnet/dashboards"
pytestmark = [
    pytest.mark.realworld,
    pytest.mark.skipif(SEED is None or not SEED.is_dir(), reason=SKIP_REASON),
]


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"the reference pipeline needs {name} on PATH (docs/realworld.md)")
    return found


def _jb_install(project: Path) -> None:
    """The reference ``jb install``, offline but for the file:// mirrors (docs/realworld.md)."""
    assert MIRRORS is not None
    env = {
        **os.environ,
        "HOME": str(project.parent / "jb-home"),
        "GIT_CONFIG_GLOBAL": str(MIRRORS / "gitconfig-jb"),
        "HTTPS_PROXY": "http://127.0.0.1:9",  # GitHub tarballs fail at once: jb's git path
        "https_proxy": "http://127.0.0.1:9",
    }
    subprocess.run([_tool("jb"), "install"], cwd=project, env=env, check=True, capture_output=True)


def _tree(root: Path) -> dict[str, bytes | str]:
    found: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_file():
                found[rel] = path.read_bytes()
    return found


def _name(git: dict[str, str]) -> str:
    repo = git["remote"].removeprefix("https://").removesuffix(".git")
    return f"{repo}/{git['subdir'].strip('/')}".rstrip("/")


def test_kube_prometheus_v0_3_0_vendors_as_jb(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """kube-prometheus v0.3.0's own v0 files (nested kubernetes-mixin packages included)."""
    assert MIRRORS is not None and SEED is not None
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(MIRRORS / "gitconfig"))
    ours, theirs = tmp_path / "kpb", tmp_path / "jb"
    for root in (ours, theirs):
        shutil.copytree(SEED / "src", root, symlinks=True)
    v0 = json.loads((SEED / "src/jsonnetfile.lock.json").read_text())
    assert run(["-C", str(ours), "vendor"]) == 0
    written = json.loads((ours / "jsonnetfile.lock.json").read_text())["dependencies"]
    locked = {_name(d["source"]["git"]): d for d in written if "git" in d["source"]}
    pinned = [d for d in v0["dependencies"] if "git" in d["source"]]
    assert len(pinned) == 10
    for entry in pinned:
        got = locked[_name(entry["source"]["git"])]
        assert (got["version"], got["sum"]) == (entry["version"], entry["sum"])
    _jb_install(theirs)
    for name in ("jsonnetfile.json", "jsonnetfile.lock.json"):
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name
    assert _tree(ours / "vendor") == _tree(theirs / "vendor")
    assert run(["-C", str(ours), "vendor", "--verify"]) == 0


@pytest.mark.parametrize("env", ["dev", "stg", "prd"])
def test_article_environments_build_like_jb_jsonnet_gojsontoyaml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env: str
) -> None:
    """base.libsonnet + <env>.jsonnet of the article, on kube-prometheus v0.3.0's lock.

    The article pinned ``release-0.3``; that branch has moved since, so the project pins the
    v0.3.0 tag of it and starts from kube-prometheus v0.3.0's own lock, as a team taking
    the article's versions would.
    """
    assert MIRRORS is not None and SEED is not None
    article = article_files()
    if article is None:
        pytest.skip(f"the seed article ({ARTICLE}) is not beside the repository")
    gojsontoyaml = _tool("gojsontoyaml")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(MIRRORS / "gitconfig"))
    jsonnetfile = {
        "dependencies": [
            {
                "name": "kube-prometheus",
                "source": {
                    "git": {
                        "remote": "https://github.com/coreos/kube-prometheus",
                        "subdir": "jsonnet/kube-prometheus",
                    }
                },
                "version": "v0.3.0",
            }
        ]
    }
    # kube-prometheus's own lock pins the versions it was tested with; its one local entry
    # (its own folder) is not part of this project (jb 0.6.0 would crash on it).
    lock = json.loads((SEED / "src/jsonnetfile.lock.json").read_text())
    lock["dependencies"] = [d for d in lock["dependencies"] if "git" in d["source"]]
    ours, reference = tmp_path / "kpb", tmp_path / "build-sh"
    for root in (ours, reference):
        root.mkdir()
        (root / "jsonnetfile.json").write_text(json.dumps(jsonnetfile, indent=4) + "\n")
        (root / "jsonnetfile.lock.json").write_text(json.dumps(lock, indent=4) + "\n")
    # kpb's layout: environments/<env>.jsonnet, the library in jsonnet/.
    (ours / "environments").mkdir()
    (ours / "jsonnet/custom-dashboards").mkdir(parents=True)
    (ours / "jsonnet/base.libsonnet").write_text(article["base.libsonnet"])
    (ours / f"environments/{env}.jsonnet").write_text(article[f"{env}.jsonnet"])
    # build.sh's layout: everything at the top, imports through -J vendor.
    (reference / "custom-dashboards").mkdir()
    (reference / "base.libsonnet").write_text(article["base.libsonnet"])
    (reference / f"{env}.jsonnet").write_text(article[f"{env}.jsonnet"])
    for folder in (ours / "jsonnet/custom-dashboards", reference / "custom-dashboards"):
        shutil.copy(DASHBOARD / "cluster-autoscaler-stats.json", folder)

    assert run(["-C", str(ours), "vendor"]) == 0
    _jb_install(reference)
    assert _tree(ours / "vendor") == _tree(reference / "vendor")
    assert run(["-C", str(ours), "build", env, "--engine", "rs"]) == 0

    import _gojsonnet  # the go-jsonnet engine itself, as `jsonnet -J vendor -m` runs it

    text = _gojsonnet.evaluate_file(
        str(reference / f"{env}.jsonnet"), jpathdir=[str(reference / "vendor")]
    )
    expected: dict[str, bytes] = {}
    for key, value in json.loads(text).items():
        converted = subprocess.run(
            [gojsontoyaml],
            input=json.dumps(value, indent=3).encode(),
            capture_output=True,
            check=True,
        )
        expected[f"{key}.yaml"] = converted.stdout
    got = {
        rel: data
        for rel, data in _tree(ours / "manifests" / env).items()
        if isinstance(data, bytes)
    }
    assert sorted(got) == sorted(expected)
    assert len(got) > 50
    differing = sorted(k for k in got if got[k] != expected[k])
    assert differing == []
