"""Benchmark ``kpb vendor`` against the reference pipeline, on remotes shaped like
kube-prometheus's dependencies.

It builds ~20 local git repositories (``file://``, reached through ``url.<base>.insteadOf``
exactly like GitHub would be), one of them large with only a small subdir needed (grafana), and
reports, as medians over a few rounds:

* cold: empty kpb cache, empty vendor/;
* warm: warm cache, empty vendor/;
* no-op: everything in place (the second ``kpb vendor``).

The reference is ``jb install`` when a ``jb`` binary is on PATH; otherwise the "naive" pipeline
jb's git fallback performs for every package: a full ``git clone``, a checkout of the locked
commit and a copy of the subdir. Results are ratios measured in the same run.

Usage: python benchmarks/bench_vendor.py [--rounds N] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# (org/repo, subdir, files in subdir, extra files outside the subdir, commits)
SHAPES: list[tuple[str, str, int, int, int]] = [
    ("brancz/kubernetes-grafana", "grafana", 12, 40, 6),
    ("etcd-io/etcd", "contrib/mixin", 8, 400, 8),
    ("grafana/grafana", "grafana-mixin", 10, 4000, 10),  # the 3 GB one, scaled down
    ("grafana/grafonnet-lib", "grafonnet", 40, 60, 4),
    ("grafana/grafonnet", "gen/grafonnet-latest", 300, 600, 4),
    ("grafana/jsonnet-libs", "mixin-utils", 6, 500, 8),
    ("jsonnet-libs/docsonnet", "doc-util", 6, 40, 3),
    ("jsonnet-libs/xtd", "", 30, 0, 3),
    ("kubernetes-monitoring/kubernetes-mixin", "", 120, 0, 6),
    ("kubernetes/kube-state-metrics", "jsonnet/kube-state-metrics", 8, 500, 6),
    ("kubernetes/kube-state-metrics-mixin", "jsonnet/kube-state-metrics-mixin", 6, 80, 3),
    ("prometheus-operator/prometheus-operator", "jsonnet/prometheus-operator", 30, 900, 8),
    ("prometheus-operator/prometheus-operator-mixin", "jsonnet/mixin", 8, 80, 3),
    ("prometheus/alertmanager", "doc/alertmanager-mixin", 8, 500, 6),
    ("prometheus/node_exporter", "docs/node-mixin", 20, 400, 6),
    ("prometheus/prometheus", "documentation/prometheus-mixin", 10, 1500, 8),
    ("pyrra-dev/pyrra", "jsonnet/controller-gen", 8, 300, 4),
    ("thanos-io/thanos", "mixin", 40, 900, 8),
    ("prometheus-operator/kube-prometheus", "jsonnet/kube-prometheus", 80, 200, 6),
    ("grafana/jsonnet-libs-builder", "grafana-builder", 4, 100, 3),
]


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=env, check=True
    )
    return proc.stdout.strip()


def _text(rng: random.Random, size: int) -> str:
    words = ["local", "grafana", "prometheus", "rule", "expr", "alert", "{", "}", "+:", "std"]
    return " ".join(rng.choice(words) + str(rng.randint(0, 999)) for _ in range(size // 8))


def build_remote(root: Path, shape: tuple[str, str, int, int, int], seed: int) -> Path:
    """One repository with history; ~2 kB files inside the subdir, ~1.5 kB outside."""
    slug, subdir, inside, outside, commits = shape
    rng = random.Random(seed)
    path = root / "github.com" / f"{slug}.git"
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=master")
    git(path, "config", "uploadpack.allowFilter", "true")
    for commit in range(commits):
        share = 1.0 if commit == 0 else 0.15  # later commits touch some files
        for index in range(inside):
            if rng.random() < share:
                name = f"{subdir}/lib{index}.libsonnet" if subdir else f"lib{index}.libsonnet"
                _write(path / name, _text(rng, 2000))
        for index in range(outside):
            if rng.random() < share:
                _write(path / f"src/pkg{index % 50}/file{index}.go", _text(rng, 1500))
        git(path, "add", "-A")
        git(path, "commit", "--quiet", "-m", f"commit {commit}")
    git(path, "gc", "--quiet")  # packed, as a hosting service serves it
    return path


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def make_project(root: Path) -> tuple[Path, list[tuple[str, str]]]:
    """A project whose jsonnetfile lists every shape (flat, like a resolved kube-prometheus)."""
    project = root / "project"
    project.mkdir()
    deps = []
    for slug, subdir, *_ in SHAPES:
        remote = f"https://github.com/{slug}.git"
        source = {"git": {"remote": remote, "subdir": subdir}}
        dep: dict[str, object] = {"source": source, "version": "master"}
        if subdir.endswith("mixin"):  # as kube-prometheus does: avoid legacy-name clashes
            dep["name"] = slug.split("/")[1] + "-mixin"
        deps.append(dep)
    body = {"version": 1, "dependencies": deps, "legacyImports": True}
    (project / "jsonnetfile.json").write_text(json.dumps(body, indent=2) + "\n")
    return project, [(f"https://github.com/{s}.git", d) for s, d, *_ in SHAPES]


def kpb(project: Path, env: dict[str, str], *args: str) -> None:
    cmd = [sys.executable, "-m", "kubeprom_build", "-q", "-C", str(project), "vendor", *args]
    subprocess.run(cmd, env=env, check=True)


def naive(project: Path, env: dict[str, str], scratch: Path) -> None:
    """What jb's git fallback does per package: full clone, checkout, copy the subdir."""
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    vendor = scratch / "naive-vendor"
    shutil.rmtree(vendor, ignore_errors=True)
    for dep in lock["dependencies"]:
        remote, subdir = dep["source"]["git"]["remote"], dep["source"]["git"]["subdir"]
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            clone = Path(tmp) / "repo"
            git(scratch, "clone", "--quiet", "--no-checkout", remote, str(clone), env=env)
            git(
                clone,
                "-c",
                "advice.detachedHead=false",
                "checkout",
                "--quiet",
                dep["version"],
                env=env,
            )
            name = remote.removeprefix("https://").removesuffix(".git")
            target = vendor / name / subdir
            shutil.copytree(
                clone / subdir if subdir else clone, target, ignore=shutil.ignore_patterns(".git")
            )


def jb(project: Path, env: dict[str, str]) -> None:
    subprocess.run(["jb", "install", "-q"], cwd=project, env=env, check=True, capture_output=True)


def timed(action: Callable[[], None], before: Callable[[], None], rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        before()
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="build in this directory and keep it")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="kpb-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    remotes, cache, scratch = root / "remotes", root / "cache", root / "scratch"
    scratch.mkdir(exist_ok=True)
    config = root / "gitconfig"
    config.write_text(f'[url "file://{remotes}/github.com/"]\n\tinsteadOf = https://github.com/\n')
    env = dict(
        os.environ,
        GIT_CONFIG_GLOBAL=str(config),
        GIT_CONFIG_NOSYSTEM="1",
        KPB_CACHE=str(cache),
        NO_COLOR="1",
    )
    env.update(
        {
            f"GIT_{r}_{k}": v
            for r in ("AUTHOR", "COMMITTER")
            for k, v in (("NAME", "bench"), ("EMAIL", "bench@kpb.invalid"))
        }
    )
    if not remotes.exists():
        print(f"building {len(SHAPES)} remotes in {remotes} ...", flush=True)
        for seed, shape in enumerate(SHAPES):
            build_remote(remotes, shape, seed)
    project, _ = make_project(root) if not (root / "project").exists() else (root / "project", [])
    kpb(project, env)  # resolve once so every run below vendors the same lock
    vendor = project / "vendor"

    def empty_all() -> None:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(vendor, ignore_errors=True)

    def empty_vendor() -> None:
        shutil.rmtree(vendor, ignore_errors=True)

    results = {
        "kpb cold (empty cache, empty vendor/)": timed(
            lambda: kpb(project, env), empty_all, args.rounds
        ),
        "kpb warm (warm cache, empty vendor/)": timed(
            lambda: kpb(project, env), empty_vendor, args.rounds
        ),
        "kpb no-op (nothing changed)": timed(lambda: kpb(project, env), lambda: None, args.rounds),
    }
    if shutil.which("jb"):
        ref_name = "jb install (empty vendor/)"
        reference = timed(lambda: jb(project, env), empty_vendor, args.rounds)
        ref_noop = timed(lambda: jb(project, env), lambda: None, args.rounds)
    else:
        ref_name = "naive: full git clone + checkout + copy per package"
        reference = timed(lambda: naive(project, env, scratch), lambda: None, args.rounds)
        ref_noop = reference  # the naive pipeline has no no-op path: it always re-clones
    remote_bytes = sum(du(p) for p in remotes.rglob(".git") if p.is_dir())
    print(
        f"\n{len(SHAPES)} remotes, {remote_bytes / 1e6:.1f} MB of packed git history; "
        f"vendor/ {du(vendor) / 1e6:.2f} MB; kpb cache {du(cache) / 1e6:.2f} MB"
    )
    print(f"{ref_name}: {reference:.2f} s (no-op: {ref_noop:.2f} s)")
    for label, seconds in results.items():
        base = ref_noop if "no-op" in label else reference
        print(f"{label:40s} {seconds:6.2f} s   {base / seconds:5.1f}x faster than reference")
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
