"""Time ``kpb build`` against the build.sh pipeline shape, in one run, on a generated workload.

Usage: python benchmarks/bench_build.py [--repeat N] [--objects N] [--kube-prometheus DIR]

Pipelines timed (wall clock, median of --repeat runs, same machine, same run):

(a) build.sh shape: an engine process writes one JSON file per key (``jsonnet -m``), then one
    converter process per file (``xargs -I{} sh -c 'cat {} | CONVERTER > {}.yaml'``), then
    ``rm -rf manifests/<env>`` + ``mv``. There is no jsonnet CLI or gojsontoyaml binary on this
    machine, so the engine step is ``python -c`` around the C++ binding (what build.sh ran: the
    C++ ``jsonnet`` CLI) and the converter is ``python -c`` around kpb's yamlemit (byte-identical
    output). A Python interpreter starts slower than the Go binary, so (a) also gets a floor
    variant, (a-floor), whose converter is ``cat``: the per-file process cost with conversion
    for free, i.e. a lower bound for the real build.sh; and (a-go), the same shape with the Go
    binding as the engine, which separates the pipeline's cost from the C++ engine's.
(b) ``kpb build`` in-process (the library API the CLI calls), per engine, from an empty tree
    (cpp is timed once: it is slow).
(c) a no-op ``kpb build`` (nothing changed: the incremental stamp skips evaluation).

With --kube-prometheus DIR (a project whose environments/ holds examples/kustomize.jsonnet and
whose vendor/ is kube-prometheus v0.18.0's), (b) and (c) are also timed there.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kubeprom_build.rendering import manifests
from kubeprom_build.rendering import pipeline as build
from kubeprom_build.rendering.engine import available_engines

LIBRARY = Path(__file__).with_suffix(".libsonnet")

ENGINE_STEP = r"""
import importlib, json, os, sys
out, root = sys.argv[1], sys.argv[2]
engine = importlib.import_module(sys.argv[3])
jpath = [os.path.join(root, 'vendor'), os.path.join(root, 'jsonnet')]
env = os.path.join(root, 'environments/bench.jsonnet')
data = json.loads(engine.evaluate_file(env, jpathdir=jpath))
for key, value in data.items():
    path = os.path.join(out, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(value, f, indent=3)
    print(path)
"""

CONVERTER = (
    "import json, sys; from kubeprom_build import yamlemit; "
    "sys.stdout.write(yamlemit.dumps(json.load(sys.stdin)))"
)


def make_workload(root: Path, objects: int) -> None:
    """A project whose ``bench`` environment renders ``objects`` kube-prometheus-like objects."""
    (root / "jsonnet").mkdir(parents=True)
    (root / "vendor").mkdir()
    (root / "environments").mkdir()
    (root / ".git").mkdir()
    shutil.copy(LIBRARY, root / "jsonnet" / "bench.libsonnet")
    (root / "environments" / "bench.jsonnet").write_text(
        f"(import 'bench.libsonnet').objects({objects})\n"
    )


def build_sh(root: Path, converter: str, module: str = "_jsonnet") -> None:
    """The build.sh shape: engine writes JSON files, then one shell + converter per file."""
    tmp = root / "tmp-build"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    listed = subprocess.run(
        [sys.executable, "-c", ENGINE_STEP, str(tmp), str(root), module],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for path in listed:
        subprocess.run(["sh", "-c", f"cat '{path}' | {converter} > '{path}.yaml'"], check=True)
        os.unlink(path)
    target = root / "manifests" / "bench"
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(exist_ok=True)
    os.rename(tmp, target)


def kpb_build(root: Path, engine: str, clean: bool) -> build.BuildReport:
    """``kpb build bench`` through the library API; ``clean`` starts from no tree and no stamp."""
    if clean:
        shutil.rmtree(root / "manifests", ignore_errors=True)
        shutil.rmtree(root / ".kpb", ignore_errors=True)
    request = build.BuildRequest(project=root, vendor_dir=root / "vendor", engine=engine)
    envs = build.environments(root)
    report = build.build(request, envs[:1])
    assert report.ok, report
    return report


def timed(func: Callable[[], object], repeat: int) -> float:
    """Median wall-clock seconds of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def tree_size(target: Path) -> tuple[int, int]:
    """(files, bytes) of an output tree."""
    files = manifests.read_tree(target)
    return len(files), sum(len(v or b"") for v in files.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--objects", type=int, default=100)
    parser.add_argument("--kube-prometheus", type=Path, default=None)
    parser.add_argument("--engines", default=",".join(available_engines()))
    args = parser.parse_args()
    engines = [e for e in args.engines.split(",") if e]
    with tempfile.TemporaryDirectory(prefix="kpb-bench-") as tmp:
        root = Path(tmp)
        make_workload(root, args.objects)
        rows = run_suite(root, engines, args.repeat)
    if args.kube_prometheus:
        rows += run_kpb_only(args.kube_prometheus.resolve(), engines, args.repeat)
    print_rows(rows)


def run_suite(root: Path, engines: list[str], repeat: int) -> list[tuple[str, float, str]]:
    """(a), (a-floor), (b) per engine and (c) on the generated workload."""
    kpb_build(root, engines[0], clean=True)
    files, size = tree_size(root / "manifests" / "bench")
    print(f"workload: {files} files, {size / 1e6:.1f} MB of YAML", flush=True)
    converter = f"{sys.executable} -c '{CONVERTER}'"
    reference = timed(lambda: build_sh(root, converter), 1)
    floor = timed(lambda: build_sh(root, "cat"), 1)
    with_go = timed(lambda: build_sh(root, converter, "_gojsonnet"), 1)
    rows = [
        ("(a) build.sh shape: cpp, python converter per file", reference, "workload"),
        ("(a-floor) build.sh shape: cpp, `cat` per file", floor, "workload"),
        ("(a-go) build.sh shape: go, python converter per file", with_go, "workload"),
    ]
    return rows + kpb_rows(root, engines, repeat, "workload")


def run_kpb_only(project: Path, engines: list[str], repeat: int) -> list[tuple[str, float, str]]:
    """(b) and (c) on a real kube-prometheus project (cpp is skipped: ~100 s per run)."""
    return kpb_rows(project, [e for e in engines if e != "cpp"], repeat, "kube-prometheus")


def kpb_rows(
    project: Path, engines: list[str], repeat: int, label: str
) -> list[tuple[str, float, str]]:
    """(b) a clean ``kpb build`` per engine (cpp once: it is slow) and (c) a no-op rebuild."""
    rows = []
    for engine in engines:
        runs = repeat if engine != "cpp" else 1
        seconds = timed(lambda e=engine: kpb_build(project, e, clean=True), runs)  # type: ignore[misc]
        rows.append((f"(b) kpb build, engine {engine}", seconds, label))
    kpb_build(project, engines[0], clean=True)
    noop = timed(lambda: kpb_build(project, engines[0], False), repeat)
    rows.append(("(c) kpb build, no-op", noop, label))
    return rows


def print_rows(rows: list[tuple[str, float, str]]) -> None:
    """A table with ratios against (a), (a-floor) and (a-go) of the generated workload."""
    refs = [rows[0][1], rows[1][1], rows[2][1]]
    heads = "".join(f" {h:>9}" for h in ("vs (a)", "vs floor", "vs a-go"))
    print(f"{'pipeline':54} {'workload':16} {'seconds':>9}{heads}")
    for name, seconds, workload in rows:
        if workload == "workload":
            ratios = "".join(f" {ref / seconds:8.1f}x" for ref in refs)
        else:
            ratios = "".join(f" {'-':>9}" for _ in refs)
        print(f"{name:54} {workload:16} {seconds:9.3f}{ratios}")
    print(json.dumps({"rows": [{"name": n, "seconds": s, "workload": w} for n, s, w in rows]}))


if __name__ == "__main__":
    main()
