"""Nested packages (issue 12): one locked package's directory inside another's, vendored as jb.

The expectations never come from kpb's own code. Sums are jb's hashDir re-implemented here from
its Go source, over ``git archive`` of the pinned commits, and the expected tree is what a
literal transcription of jb's ``ensure`` (:func:`jb_vendor`: check the sum, else remove
``vendor/<name>`` and move the download there, one package after another) leaves behind.

The era fixture is shaped like kube-prometheus v0.3.0 (the seed article's release-0.3): v0
jsonnetfile and lock, coreos-style remotes without ``.git``, ksonnet-lib, a kausalco/public
grafana-builder, legacy ``name``s, and kubernetes-mixin next to its own lib/promgrafonnet.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.cli import killed_when, kpb
from tests.helpers.gitrepos import Remote, World, git_dep, snapshot

MIXIN = "github.com/kubernetes-monitoring/kubernetes-mixin"
PROMGRAFONNET = f"{MIXIN}/lib/promgrafonnet"
MIXIN_URL = "https://github.com/kubernetes-monitoring/kubernetes-mixin"
FORK_URL = "ssh://git@github.com/kubernetes-monitoring/kubernetes-mixin.git"


# --------------------------------------------------------------------------- jb, independently


def jb_sum(root: Path) -> str:
    """jb's hashDir: file bytes in filepath.Walk order (byte-sorted names, pre-order)."""
    hasher = hashlib.sha256()

    def walk(directory: Path) -> None:
        for name in sorted(os.listdir(directory), key=os.fsencode):
            entry = directory / name
            if entry.is_dir() and not entry.is_symlink():
                walk(entry)
            else:
                hasher.update(entry.read_bytes())

    if root.is_dir():
        walk(root)
    return base64.b64encode(hasher.digest()).decode()


def pristine(remote: Remote, commit: str, subdir: str, dest: Path) -> Path:
    """The package as jb downloads it: ``subdir`` of ``commit``, nothing else."""
    dest.mkdir(parents=True)
    tree = f"{commit}:{subdir}" if subdir else commit
    archive = subprocess.run(
        ["git", "-C", str(remote.path), "archive", "--format=tar", tree],
        capture_output=True,
        check=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


@dataclass(frozen=True)
class Pkg:
    name: str
    remote: Remote
    commit: str
    subdir: str = ""


def jb_vendor(pkgs: list[Pkg], vendor: Path, locked: dict[str, str], scratch: Path) -> list[str]:
    """jb's ensure() over one flat jsonnetfile, transcribed: returns the names it downloaded."""
    downloaded: list[str] = []
    for index, pkg in enumerate(pkgs):
        target = vendor / pkg.name
        if locked.get(pkg.name) and jb_sum(target) == locked[pkg.name]:
            continue
        shutil.rmtree(target, ignore_errors=True)
        tmp = pristine(pkg.remote, pkg.commit, pkg.subdir, scratch / f"{len(downloaded)}-{index}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.rename(target)
        assert locked.setdefault(pkg.name, jb_sum(target)) == jb_sum(target)
        downloaded.append(pkg.name)
    return downloaded


def files(root: Path) -> dict[str, bytes | str]:
    """Relative path → bytes (or ``-> target`` for a symlink) of everything below ``root``."""
    return {str(Path(k).relative_to(root)): v for k, v in snapshot(root).items()}


def lock_sums(project: Path) -> dict[str, tuple[str, str]]:
    """name → (version, sum) of the lock kpb wrote."""
    data = json.loads((project / "jsonnetfile.lock.json").read_text())
    out = {}
    for dep in data["dependencies"]:
        git = dep["source"].get("git")
        if git is None:
            continue
        name = re.sub(r"^(https://|ssh://git@)", "", git["remote"]).removesuffix(".git")
        out[name + ("/" + git["subdir"] if git["subdir"] else "")] = (dep["version"], dep["sum"])
    return out


def no_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """From here on any git command fails: PATH holds nothing (kpb finds git through PATH)."""
    empty = tmp_path / "no-git-bin"
    empty.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(empty))


def v1_dep(url: str, subdir: str, version: str) -> dict[str, Any]:
    return git_dep(url, subdir, version)


def write_v1(project: Path, deps: list[dict[str, Any]]) -> None:
    body = {"version": 1, "dependencies": deps, "legacyImports": True}
    (project / "jsonnetfile.json").write_text(json.dumps(body, indent=2) + "\n")


# --------------------------------------------------------------------------- one repository


def _mixin(world: World) -> tuple[Remote, str, str]:
    repo = world.remote(
        "kubernetes-monitoring/kubernetes-mixin",
        {
            "mixin.libsonnet": "{ version: 1 }\n",
            "dashboards/nodes.libsonnet": "{}\n",
            "lib/promgrafonnet/promgrafonnet.libsonnet": "{ gauge: import 'gauge.libsonnet' }\n",
            "lib/promgrafonnet/gauge.libsonnet": "{ g: 1 }\n",
            "lib/other.libsonnet": "{}\n",
        },
    )
    old = repo.head()
    new = repo.commit(
        {
            "mixin.libsonnet": "{ version: 2 }\n",
            "lib/promgrafonnet/gauge.libsonnet": "{ g: 2 }\n",
            "lib/promgrafonnet/numbersinglestat.libsonnet": "{ n: 2 }\n",
        }
    )
    return repo, old, new


ORDERS = {"parent-first": (0, 1), "child-first": (1, 0)}


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("commits", ["same", "child-newer", "parent-newer"])
def test_nested_package_of_one_repository_vendors_as_jb(
    world: World,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    order: str,
    commits: str,
) -> None:
    repo, old, new = _mixin(world)
    parent_sha = new if commits == "parent-newer" else old
    child_sha = new if commits == "child-newer" else old
    both = [
        (Pkg(MIXIN, repo, parent_sha), v1_dep(MIXIN_URL + ".git", "", parent_sha)),
        (
            Pkg(PROMGRAFONNET, repo, child_sha, "lib/promgrafonnet"),
            v1_dep(MIXIN_URL + ".git", "lib/promgrafonnet", child_sha),
        ),
    ]
    chosen = [both[i] for i in ORDERS[order]]
    write_v1(project, [dep for _, dep in chosen])
    jb_tree = tmp_path / "jb-vendor"
    jb_locked: dict[str, str] = {}
    jb_vendor([pkg for pkg, _ in chosen], jb_tree, jb_locked, tmp_path / "jb-scratch")

    assert kpb(project, "vendor") == 0
    vendor = project / "vendor"
    assert files(vendor / MIXIN) == files(jb_tree / MIXIN)
    assert lock_sums(project) == {
        MIXIN: (parent_sha, jb_locked[MIXIN]),
        PROMGRAFONNET: (child_sha, jb_locked[PROMGRAFONNET]),
    }
    assert jb_locked[MIXIN] == jb_sum(pristine(repo, parent_sha, "", tmp_path / "p"))
    assert os.readlink(vendor / "kubernetes-mixin") == MIXIN
    assert os.readlink(vendor / "promgrafonnet") == PROMGRAFONNET
    assert not [p for p in vendor.iterdir() if p.name.startswith(".kpb-tmp-")]

    # jb's own second run reaches the same tree (re-downloading when the commits differ) ...
    again = jb_vendor([pkg for pkg, _ in chosen], jb_tree, jb_locked, tmp_path / "jb-scratch2")
    assert files(jb_tree / MIXIN) == files(vendor / MIXIN)
    assert bool(again) == (commits != "same")
    # ... and kpb's is a no-op that runs no git at all.
    before, lock_bytes = snapshot(project), (project / "jsonnetfile.lock.json").read_bytes()
    with monkeypatch.context() as patch:
        no_git(patch, tmp_path)
        assert kpb(project, "vendor") == 0
        assert kpb(project, "vendor", "--verify") == 0
    assert snapshot(project) == before
    assert (project / "jsonnetfile.lock.json").read_bytes() == lock_bytes

    # a warm cache rebuilds the same tree offline, with the remotes gone
    world.root.rename(tmp_path / "gone")
    shutil.rmtree(vendor)
    assert kpb(project, "vendor", "--offline") == 0
    # the same tree and record, except the new files' stat fingerprints
    assert _without_stats(snapshot(project)) == _without_stats(before)


def _without_stats(state: dict[str, bytes | str]) -> dict[str, object]:
    """``snapshot`` with the record's seal and stat fingerprints (inodes, ctimes) left out."""
    shown: dict[str, object] = dict(state)
    for key, value in state.items():
        if key.endswith(".kpb/vendor-record.json"):
            assert isinstance(value, bytes)
            body = json.loads(value.partition(b"\n")[2])
            for package in body["packages"].values():
                package.pop("stats")
            shown[key] = body
    return shown


def test_verify_detects_a_modified_file_of_the_nested_package(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _repo, old, new = _mixin(world)
    write_v1(
        project,
        [
            v1_dep(MIXIN_URL + ".git", "", old),
            v1_dep(MIXIN_URL + ".git", "lib/promgrafonnet", new),
        ],
    )
    assert kpb(project, "vendor") == 0
    assert kpb(project, "vendor", "--verify") == 0
    (project / "vendor" / PROMGRAFONNET / "gauge.libsonnet").write_text("{ g: 'edited' }\n")
    before = snapshot(project)
    capsys.readouterr()
    assert kpb(project, "vendor", "--verify") == 1
    err = capsys.readouterr().err
    assert f"{PROMGRAFONNET}: modified (changed: gauge.libsonnet)" in err
    assert f"{MIXIN}: modified" in err  # jb's parent sum covers the nested files too
    assert snapshot(project) == before
    assert kpb(project, "vendor") == 0  # repaired as jb would: both downloaded again
    assert kpb(project, "vendor", "--verify") == 0
    assert (project / "vendor" / PROMGRAFONNET / "gauge.libsonnet").read_text() == "{ g: 2 }\n"


def test_moving_the_nested_package_rebuilds_as_jb_would(
    world: World, project: Path, tmp_path: Path
) -> None:
    """A lock change invalidates kpb's record: the next run follows jb's checks again."""
    repo, old, new = _mixin(world)
    pkgs = [Pkg(PROMGRAFONNET, repo, old, "lib/promgrafonnet"), Pkg(MIXIN, repo, old)]
    deps = [
        v1_dep(MIXIN_URL + ".git", "lib/promgrafonnet", old),
        v1_dep(MIXIN_URL + ".git", "", old),
    ]
    write_v1(project, deps)
    assert kpb(project, "vendor") == 0
    jb_tree = tmp_path / "jb-vendor"
    jb_locked: dict[str, str] = {}
    jb_vendor(pkgs, jb_tree, jb_locked, tmp_path / "s1")
    # `update` of the nested package only: child-first, so jb wipes it again with the parent
    deps[0] = v1_dep(MIXIN_URL + ".git", "lib/promgrafonnet", new)
    write_v1(project, deps)
    assert kpb(project, "update", PROMGRAFONNET) == 0
    del jb_locked[PROMGRAFONNET]
    pkgs[0] = Pkg(PROMGRAFONNET, repo, new, "lib/promgrafonnet")
    assert jb_vendor(pkgs, jb_tree, jb_locked, tmp_path / "s2") == [PROMGRAFONNET, MIXIN]
    assert files(project / "vendor" / MIXIN) == files(jb_tree / MIXIN)
    assert lock_sums(project)[PROMGRAFONNET] == (new, jb_locked[PROMGRAFONNET])
    assert kpb(project, "vendor", "--verify") == 0


# --------------------------------------------------------------------------- two repositories


def test_nested_package_from_another_repository_fetched_in_parallel(
    world: World, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ssh remote of another repository (a fork) gives the same name: fetched concurrently."""
    repo, old, _new = _mixin(world)
    fork = world.remote(
        "fork/kubernetes-mixin",
        {"lib/promgrafonnet/promgrafonnet.libsonnet": "{ fork: true }\n"},
    )
    config = tmp_path / "gitconfig-two"
    config.write_text(
        f'[url "file://{world.root}/github.com/"]\n\tinsteadOf = https://github.com/\n'
        f'[url "file://{fork.path}"]\n\tinsteadOf = {FORK_URL}\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    child = Pkg(PROMGRAFONNET, fork, fork.head(), "lib/promgrafonnet")
    for first in (True, False):
        pkgs = [Pkg(MIXIN, repo, old), child] if first else [child, Pkg(MIXIN, repo, old)]
        deps = [
            v1_dep(MIXIN_URL + ".git", "", old),
            v1_dep(FORK_URL, "lib/promgrafonnet", child.commit),
        ]
        write_v1(project, deps if first else deps[::-1])
        shutil.rmtree(project / "vendor", ignore_errors=True)
        (project / "jsonnetfile.lock.json").unlink(missing_ok=True)
        jb_tree = tmp_path / f"jb-{first}"
        jb_locked: dict[str, str] = {}
        jb_vendor(pkgs, jb_tree, jb_locked, tmp_path / f"s-{first}")
        assert kpb(project, "vendor", "--jobs", "4") == 0
        assert files(project / "vendor" / MIXIN) == files(jb_tree / MIXIN)
        assert {k: s for k, (_v, s) in lock_sums(project).items()} == jb_locked
        nested = (project / "vendor" / PROMGRAFONNET / "promgrafonnet.libsonnet").read_text()
        assert ("fork" in nested) == first
        assert kpb(project, "vendor", "--verify") == 0


# --------------------------------------------------------------------------- the seed's era


def v0_dep(name: str, url: str, subdir: str, version: str, sum_: str = "") -> dict[str, Any]:
    """A v0 entry as jb v0.1/0.2 wrote them: ``name`` first, no top-level ``version`` field."""
    entry: dict[str, Any] = {
        "name": name,
        "source": {"git": {"remote": url, "subdir": subdir}},
        "version": version,
    }
    if sum_:
        entry["sum"] = sum_
    return entry


def v0_file(deps: list[dict[str, Any]]) -> str:
    return json.dumps({"dependencies": deps}, indent=4) + "\n"


@dataclass(frozen=True)
class Era:
    """The kube-prometheus v0.3.0-shaped world: packages by name, and the expected links."""

    pkgs: dict[str, Pkg]
    links: dict[str, str]


def _era(world: World, project: Path) -> Era:
    """Local repositories shaped like the ones kube-prometheus release-0.3 vendored."""
    gh = "https://github.com/"  # jb v0 remotes carried no ".git"

    def lib(slug: str, subdir: str, deps: list[dict[str, Any]] | None = None) -> Remote:
        base = f"{subdir}/" if subdir else ""
        content: dict[str, str | bytes | None] = {
            f"{base}{slug.split('/')[1]}.libsonnet": f"{{ from: '{slug}' }}\n",
            "README.md": f"# {slug}\n",
        }
        if deps is not None:
            content[f"{base}jsonnetfile.json"] = v0_file(deps)
        return world.remote(slug, content)

    grafonnet = v0_dep("grafonnet", gh + "grafana/grafonnet-lib", "grafonnet", "master")
    ksonnet = v0_dep("ksonnet", gh + "ksonnet/ksonnet-lib", "", "master")
    builder = v0_dep("grafana-builder", gh + "grafana/jsonnet-libs", "grafana-builder", "master")
    kausal = v0_dep("grafana-builder", gh + "kausalco/public", "grafana-builder", "master")
    promgrafonnet = v0_dep(
        "promgrafonnet",
        gh + "kubernetes-monitoring/kubernetes-mixin",
        "lib/promgrafonnet",
        "master",
    )
    remotes = {
        "ksonnet": world.remote(
            "ksonnet/ksonnet-lib",
            {"ksonnet.beta.4/k.libsonnet": "{ k: 4 }\n", "ksonnet.beta.4/k8s.libsonnet": "{}\n"},
        ),
        "grafonnet": lib("grafana/grafonnet-lib", "grafonnet"),
        "grafana-builder": lib("grafana/jsonnet-libs", "grafana-builder"),
        "kausal": lib("kausalco/public", "grafana-builder"),
        "kubernetes-mixin": world.remote(
            "kubernetes-monitoring/kubernetes-mixin",
            {
                "mixin.libsonnet": "{ mixin: true }\n",
                "dashboards/dashboards.libsonnet": "{}\n",
                "lib/promgrafonnet/promgrafonnet.libsonnet": "{ g: import 'gauge.libsonnet' }\n",
                "lib/promgrafonnet/gauge.libsonnet": "{ gauge: 1 }\n",
                "jsonnetfile.json": v0_file([grafonnet, kausal]),
            },
        ),
        "grafana": lib("brancz/kubernetes-grafana", "grafana", [grafonnet, ksonnet]),
        "prometheus-operator": lib(
            "coreos/prometheus-operator", "jsonnet/prometheus-operator", [ksonnet]
        ),
        "etcd-mixin": lib("coreos/etcd", "Documentation/etcd-mixin"),
        "prometheus": lib("prometheus/prometheus", "documentation/prometheus-mixin", [builder]),
        "node-mixin": lib(
            "prometheus/node_exporter", "docs/node-mixin", [grafonnet, builder, promgrafonnet]
        ),
    }
    remotes["prometheus-operator"].branch("release-0.34")
    sources = {  # v0 name → (repository, subdir)
        "etcd-mixin": ("coreos/etcd", "Documentation/etcd-mixin"),
        "grafana": ("brancz/kubernetes-grafana", "grafana"),
        "grafana-builder": ("grafana/jsonnet-libs", "grafana-builder"),
        "grafonnet": ("grafana/grafonnet-lib", "grafonnet"),
        "ksonnet": ("ksonnet/ksonnet-lib", ""),
        "kubernetes-mixin": ("kubernetes-monitoring/kubernetes-mixin", ""),
        "node-mixin": ("prometheus/node_exporter", "docs/node-mixin"),
        "prometheus": ("prometheus/prometheus", "documentation/prometheus-mixin"),
        "prometheus-operator": ("coreos/prometheus-operator", "jsonnet/prometheus-operator"),
        "promgrafonnet": ("kubernetes-monitoring/kubernetes-mixin", "lib/promgrafonnet"),
    }
    names = {
        v0: f"github.com/{slug}" + (f"/{sub}" if sub else "") for v0, (slug, sub) in sources.items()
    }
    pkgs = {}
    for v0name, (_slug, subdir) in sources.items():
        remote = remotes["kubernetes-mixin" if v0name == "promgrafonnet" else v0name]
        pkgs[names[v0name]] = Pkg(names[v0name], remote, remote.head(), subdir)
    kausal_name = "github.com/kausalco/public/grafana-builder"
    pkgs[kausal_name] = Pkg(
        kausal_name, remotes["kausal"], remotes["kausal"].head(), "grafana-builder"
    )

    kp = project / "jsonnet" / "kube-prometheus"
    kp.mkdir(parents=True)
    (kp / "kube-prometheus.libsonnet").write_text("(import 'kubernetes-mixin/mixin.libsonnet')\n")
    direct = ["ksonnet", "kubernetes-mixin", "grafana", "prometheus-operator"]
    direct += ["etcd-mixin", "prometheus", "node-mixin"]
    (kp / "jsonnetfile.json").write_text(
        v0_file(
            [
                v0_dep(
                    n,
                    gh + sources[n][0],
                    sources[n][1],
                    "release-0.34" if n == "prometheus-operator" else "master",
                )
                for n in direct
            ]
        )
    )
    local = {
        "name": "kube-prometheus",
        "source": {"local": {"directory": "jsonnet/kube-prometheus"}},
        "version": "",
    }
    (project / "jsonnetfile.json").write_text(
        json.dumps({"dependencies": [local]}, indent=2) + "\n"
    )
    locked = []
    for v0name, (slug, subdir) in sources.items():  # as jb wrote it: pristine sums
        pkg = pkgs[names[v0name]]
        tree = pristine(pkg.remote, pkg.commit, subdir, project.parent / "era-sums" / v0name)
        locked.append(v0_dep(v0name, gh + slug, subdir, pkg.commit, jb_sum(tree)))
    locked.insert(5, local)
    (project / "jsonnetfile.lock.json").write_text(
        json.dumps({"dependencies": locked}, indent=2) + "\n"
    )
    links = {**names, "grafana-builder": kausal_name}  # the first in resolution order wins
    return Era(pkgs, links)


def test_seed_era_v0_files_vendor_as_jb(
    world: World,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    era = _era(world, project)
    vendor = project / "vendor"
    stale = [vendor / "github.com/coreos/old-lib", vendor / "stale"]
    kept = vendor / f"{MIXIN}-old"  # jb's string-prefix rule keeps it
    for path in [*stale, kept]:
        path.mkdir(parents=True)
        (path / "x.libsonnet").write_text("{}\n")
    (vendor / "oldlink").symlink_to("stale")
    (vendor / "grafonnet").symlink_to("github.com/wrong/place")
    given = json.loads((project / "jsonnetfile.lock.json").read_text())["dependencies"]

    capsys.readouterr()
    assert kpb(project, "vendor") == 0
    # like jb, promgrafonnet is found intact inside the fresh kubernetes-mixin: not downloaded
    assert "(11 fetched, 1 already in place)" in capsys.readouterr().err

    for name, pkg in era.pkgs.items():
        expected = pristine(
            pkg.remote, pkg.commit, pkg.subdir, tmp_path / "expected" / name.replace("/", "_")
        )
        assert files(vendor / name) == files(expected), name
    sums = lock_sums(project)
    assert set(sums) == set(era.pkgs)
    for entry in given:
        git = entry["source"].get("git")
        if git is not None:  # the v0 lock's pins and sums stand as they were
            name = git["remote"].removeprefix("https://") + (
                f"/{git['subdir']}" if git["subdir"] else ""
            )
            assert sums[name] == (entry["version"], entry["sum"])
    kausal = era.pkgs["github.com/kausalco/public/grafana-builder"]
    scratch = tmp_path / "kausal"
    assert sums[kausal.name] == (
        kausal.commit,
        jb_sum(pristine(kausal.remote, kausal.commit, kausal.subdir, scratch)),
    )
    links = {p.name: os.readlink(p) for p in vendor.iterdir() if p.is_symlink()}
    assert links == {**era.links, "kube-prometheus": "../jsonnet/kube-prometheus"}
    assert all(not p.exists() for p in stale) and kept.is_dir()
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    assert lock["legacyImports"] is False and "version" in lock  # written as v1, like jb
    shutil.rmtree(kept)

    before = snapshot(project)
    with monkeypatch.context() as patch:
        no_git(patch, tmp_path)
        assert kpb(project, "vendor") == 0
        assert kpb(project, "vendor", "--verify") == 0
    assert snapshot(project) == before
    world.root.rename(tmp_path / "gone")
    shutil.rmtree(vendor)
    assert kpb(project, "vendor", "--offline") == 0
    # the same tree and record, except the new files' stat fingerprints
    assert _without_stats(snapshot(project)) == _without_stats(before)
    (vendor / PROMGRAFONNET / "gauge.libsonnet").write_text("{ gauge: 2 }\n")
    assert kpb(project, "vendor", "--verify") == 1


def test_a_file_where_the_nested_package_must_go_fails_in_one_line(
    world: World,
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """jb's MkdirAll would fail too; kpb names the file and leaves everything as it was."""
    world.remote("kubernetes-monitoring/kubernetes-mixin", {"lib": "not a directory\n"})
    fork = world.remote(
        "fork/kubernetes-mixin", {"lib/promgrafonnet/promgrafonnet.libsonnet": "{}\n"}
    )
    config = tmp_path / "gitconfig-two"
    config.write_text(
        f'[url "file://{world.root}/github.com/"]\n\tinsteadOf = https://github.com/\n'
        f'[url "file://{fork.path}"]\n\tinsteadOf = {FORK_URL}\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    write_v1(
        project,
        [v1_dep(MIXIN_URL + ".git", "", "master"), v1_dep(FORK_URL, "lib/promgrafonnet", "master")],
    )
    before = snapshot(project)
    capsys.readouterr()
    assert kpb(project, "vendor") == 3
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if not line.startswith(("fetched ", "fetching "))]
    assert errors == [f"error: cannot vendor {PROMGRAFONNET}: {MIXIN}/lib is not a directory"]
    after = {k: v for k, v in snapshot(project).items() if "/.kpb" not in k}  # kpb's own state
    assert after == before


@pytest.mark.slow
def test_kill_at_any_moment_leaves_the_nested_pair_old_or_new(
    world: World, project: Path, tmp_path: Path
) -> None:
    """The inner package is published inside its outer one's rename, never after it."""
    repo, old, _new = _mixin(world)
    repo.branch("release", old)
    write_v1(
        project,
        [
            v1_dep(MIXIN_URL + ".git", "", "master"),
            v1_dep(MIXIN_URL + ".git", "lib/promgrafonnet", "release"),
        ],
    )
    repo.checkout("release")
    repo.commit({"lib/promgrafonnet/gauge.libsonnet": "{ g: 'release' }\n"})
    repo.checkout("master")
    assert kpb(project, "vendor") == 0
    old_tree = files(project / "vendor" / MIXIN)
    repo.checkout("release")
    repo.commit({"lib/promgrafonnet/gauge.libsonnet": "{ g: 'release 2' }\n"})
    repo.checkout("master")
    repo.commit({"mixin.libsonnet": "{ version: 3 }\n"})
    expected = tmp_path / "jb2"
    pkgs = [
        Pkg(MIXIN, repo, repo.head()),
        Pkg(PROMGRAFONNET, repo, repo.head("release"), "lib/promgrafonnet"),
    ]
    jb_vendor(pkgs, expected, {}, tmp_path / "scratch2")
    new_tree = files(expected / MIXIN)
    assert old_tree != new_tree
    vendor = project / "vendor"
    lock = (project / "jsonnetfile.lock.json").read_bytes()

    def outer_is_new() -> bool:
        with contextlib.suppress(OSError):
            return b"version: 3" in (vendor / MIXIN / "mixin.libsonnet").read_bytes()
        return False

    def staging() -> bool:
        return any(e.name.startswith(".kpb-tmp-") for e in vendor.iterdir())

    # Killed while the pair is staged, the old pair stays; killed as soon as the outer package
    # is new, the inner one must be new too (it moved inside the outer one's rename).
    moments: dict[str, tuple[Callable[[], bool], dict[str, bytes | str]]] = {
        "while staging": (lambda: staging() and not outer_is_new(), old_tree),
        "as the outer is published": (outer_is_new, new_tree),
    }
    for moment, (seen, then) in moments.items():
        for _attempt in range(5):
            assert files(vendor / MIXIN) == old_tree and not staging()
            hit = killed_when(project, seen, "update")
            tree = files(vendor / MIXIN)
            assert tree in (old_tree, new_tree), moment  # never a torn pair
            landed = hit and tree == then
            if (project / "jsonnetfile.lock.json").read_bytes() != lock:
                (project / "jsonnetfile.lock.json").write_bytes(lock)
            assert kpb(project, "vendor") == 0  # back to the old pair
            if landed:
                break
        else:
            pytest.fail(f"five runs of 'kpb update' were never killed {moment}")
    assert kpb(project, "update") == 0
    assert files(project / "vendor" / MIXIN) == new_tree
    assert kpb(project, "vendor", "--verify") == 0
