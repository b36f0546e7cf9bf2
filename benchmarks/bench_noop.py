"""Time the commands people run most: ``kpb vendor`` and ``kpb build dev`` with nothing to do,
against jb's own no-op (``jb install`` on the same warm tree), on kube-prometheus v0.18.0.

It sets up a project from local mirrors (``KPB_MIRRORS``, laid out as docs/realworld.md says):
kube-prometheus's ``jsonnetfile.json``, its lock with the grafana stand-in, its ``jsonnet/``
and ``examples/kustomize.jsonnet`` as environment ``dev``; vendors it once with kpb (through
the mirrors) and builds it once, so the tree is warm. Then, in rounds (each round runs every
command once, so they share the machine's load), it times:

* ``kpb vendor`` (no-op), ``kpb build dev`` (no-op), and the same two with the fast path off
  (``KPB_NO_FASTPATH=1``: the full command line, for comparison);
* ``jb install`` in the same project (its no-op), when a ``jb`` binary is found (``--jb`` or
  PATH; it runs with the environment of ``--jb-env`` if given, e.g. /work/tools/jb-env.sh).

and reports medians and ratios. Last, the peak memory (``ru_maxrss`` of the child, from
``wait4``) of a full ``kpb build dev --force`` with the default engine (goal: <= 200 MB).

Python children run with bytecode caching on (``PYTHONDONTWRITEBYTECODE`` removed and the
package compiled first), as an installed kpb does.

Usage: python benchmarks/bench_noop.py [--rounds N] [--mirrors DIR] [--jb PATH] [--jb-env FILE]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import kubeprom_build

GOAL_SECONDS = 0.15
GOAL_MEMORY_MB = 200


def child(argv: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[float, int, int]:
    """Run ``argv``; (wall seconds, exit status, peak RSS in KiB) of that one child."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=dict(env), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, proc.returncode, usage.ru_maxrss


def sourced(script: Path) -> dict[str, str]:
    """The environment after ``source script`` (for jb: its mirrors config and proxies)."""
    out = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(script))} && env -0"],
        capture_output=True,
        check=True,
    ).stdout
    pairs = (item.split(b"=", 1) for item in out.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode() for k, v in pairs}


def make_project(mirrors: Path, root: Path) -> Path:
    kp = mirrors / "kp-v0.18.0"
    project = root / "kube-prometheus"
    (project / "environments").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    shutil.copytree(kp / "src" / "jsonnet", project / "jsonnet")
    shutil.copy(kp / "src" / "jsonnetfile.json", project)
    shutil.copy(kp / "lock-with-standin.json", project / "jsonnetfile.lock.json")
    shutil.copy(kp / "src" / "examples" / "kustomize.jsonnet", project / "environments/dev.jsonnet")
    return project


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--mirrors", type=Path, default=os.environ.get("KPB_MIRRORS") or None)
    parser.add_argument("--jb", default=shutil.which("jb"))
    parser.add_argument("--jb-env", type=Path)
    args = parser.parse_args()
    if args.mirrors is None or not (args.mirrors / "gitconfig").is_file():
        print("bench_noop: skipped, set KPB_MIRRORS (or --mirrors) to kube-prometheus mirrors")
        return
    rounds = max(5, args.rounds)
    compileall.compile_dir(Path(kubeprom_build.__file__).parent, quiet=1)
    root = Path(tempfile.mkdtemp(prefix="kpb-bench-noop-"))
    try:
        project = make_project(args.mirrors, root)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(GIT_CONFIG_GLOBAL=str(args.mirrors / "gitconfig"), KPB_CACHE=str(root / "c"))
        env.pop("KPB_NO_FASTPATH", None)
        full = dict(env, KPB_NO_FASTPATH="1")
        kpb = [sys.executable, "-m", "kubeprom_build"]
        for warm_up in (["vendor"], ["build", "dev"], ["vendor"], ["build", "dev"]):
            if child([*kpb, *warm_up], project, env)[1] != 0:
                sys.exit(f"bench_noop: 'kpb {' '.join(warm_up)}' failed in {project}")
        commands: dict[str, tuple[list[str], Mapping[str, str]]] = {
            "kpb vendor (no-op)": ([*kpb, "vendor"], env),
            "kpb build dev (no-op)": ([*kpb, "build", "dev"], env),
            "kpb vendor (no-op, full CLI)": ([*kpb, "vendor"], full),
            "kpb build dev (no-op, full CLI)": ([*kpb, "build", "dev"], full),
        }
        if args.jb:
            jb_env = sourced(args.jb_env) if args.jb_env else dict(os.environ)
            commands["jb install (no-op)"] = ([args.jb, "install"], jb_env)
        samples: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(rounds):
            for name, (argv, environ) in commands.items():
                seconds, status, _rss = child(argv, project, environ)
                if status != 0:
                    sys.exit(f"bench_noop: {name} exited {status}")
                samples[name].append(seconds)
        medians = {name: statistics.median(values) for name, values in samples.items()}
        _seconds, status, peak = child([*kpb, "build", "dev", "--force"], project, env)
        if status != 0:
            sys.exit("bench_noop: the full build failed")
        report(medians, rounds, peak)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def report(medians: Mapping[str, float], rounds: int, peak_kib: int) -> None:
    jb = medians.get("jb install (no-op)")
    print(f"\nkube-prometheus v0.18.0, warm tree, medians of {rounds} runs:")
    for name, seconds in medians.items():
        ratio = f"  {seconds / jb:4.2f}x jb's no-op" if jb and not name.startswith("jb") else ""
        goal = ""
        if name in ("kpb vendor (no-op)", "kpb build dev (no-op)"):
            goal = "  (goal <= 0.15 s: " + ("met)" if seconds <= GOAL_SECONDS else "NOT met)")
        print(f"  {name:34s} {seconds:6.3f} s{ratio}{goal}")
    if jb is None:
        print("  (no jb binary found: pass --jb PATH for the reference no-op)")
    mb = peak_kib / 1024
    verdict = "met" if mb <= GOAL_MEMORY_MB else "NOT met"
    print(
        f"peak memory of a full 'kpb build dev --force' (default engine): {mb:.0f} MB "
        f"(goal <= {GOAL_MEMORY_MB} MB: {verdict})"
    )
    print(json.dumps({"medians": medians, "peak_rss_kib": peak_kib}))


if __name__ == "__main__":
    main()
