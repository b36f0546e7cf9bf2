"""Time validating kube-prometheus v0.18.0's manifests against a per-file reference pipeline.

Usage: python benchmarks/bench_validate.py [--repeat N] [--manifests DIR] [--reference-runs N]

DIR defaults to ``$KPB_MIRRORS/kp-v0.18.0/src/manifests`` (the upstream manifests: 131 objects,
the CRDs included). Timed, wall clock, median of the runs, same machine, same run:

(a) what ``kpb build --validate`` adds to a build: the gate over the values the build rendered
    (the schemas and CRD checks), cold (schema caches cleared each run, as in a new process);
(b) ``kpb validate``'s library call over the files on disk (YAML parsing included), cold;
(c) the reference, kubeconform style: one ``check-jsonschema`` process per file, with the
    standalone strict schema of the file's kind (built from the same kubernetes-validate
    definitions; a CR gets its CRD's schema converted as kpb converts it).

The issue's budget is (a) ≤ 1 s. The ratio printed is (c) / (a) and (c) / (b).
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
from typing import Any

import yaml

from kubeprom_build import validation
from kubeprom_build.validation import crdschemas, documents, kubeschemas

VERSION = validation.DEFAULT_KUBE_VERSION


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        kubeschemas.load.cache_clear()
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _values(folder: Path) -> dict[str, Any]:
    """``{key: value}`` as a build hands them to the gate: one document per file (a ``List``
    stays one value, as kube-prometheus's dashboard definitions are)."""
    values = {}
    for path in sorted(folder.rglob("*.yaml")):
        [value] = [d for d in yaml.load_all(path.read_bytes(), Loader=documents.Loader) if d]
        values[path.relative_to(folder).as_posix().removesuffix(".yaml")] = value
    return values


def _reference_schemas(folder: Path, out: Path) -> list[tuple[Path, Path]]:
    """``(instance file, standalone schema file)`` per manifest, as kubeconform would pair them."""
    definitions = json.loads(
        (
            kubeschemas.schema_root() / f"v{VERSION}.0-local-strict" / "_definitions.json"
        ).read_bytes()
    )
    definitions.pop("$id", None)
    read = documents.from_directory(folder)
    crds = crdschemas.collect(read.manifests, ())
    schemas = kubeschemas.load(VERSION)
    pairs = []
    for manifest in read.manifests:
        api_version, kind = manifest.obj["apiVersion"], manifest.obj["kind"]
        group, _, version = api_version.rpartition("/")
        name = schemas.lookup(api_version, kind)
        target = out / f"{kind}-{group or 'core'}-{version}.json"
        if not target.exists():
            if name is not None:
                schema = {**definitions, "$ref": f"#/$defs/{name}"}
            else:
                entry = crds.kinds[(group, kind)][version]
                assert entry.schema is not None
                schema = crdschemas.to_json_schema(entry.schema)
            target.write_text(json.dumps(schema))
        pairs.append((folder / manifest.file, target))
    return pairs


def _reference(pairs: list[tuple[Path, Path]], tool: str) -> int:
    """Run the reference; the number of files it rejected that kpb and the API server accept.

    Causes seen: Python's ``re`` refuses the PrometheusRule CRD's ``(?i)`` inline flag (every
    PrometheusRule fails), and PyYAML without kpb's loader cannot read a CRD's lone ``=``.
    """
    rejected = 0
    for instance, schema in pairs:
        done = subprocess.run(
            [tool, "--schemafile", str(schema), "--disable-formats", "*", str(instance)],
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if done.returncode not in (0, 1):
            raise SystemExit(f"check-jsonschema failed on {instance}: exit {done.returncode}")
        rejected += done.returncode
    return rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mirrors = os.environ.get("KPB_MIRRORS", "/work/mirrors")
    default = Path(mirrors) / "kp-v0.18.0" / "src" / "manifests"
    parser.add_argument("--manifests", type=Path, default=default)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--reference-runs", type=int, default=1, help="about 5 min each")
    args = parser.parse_args()
    if not args.manifests.is_dir():
        sys.exit(f"no manifests at {args.manifests} (set KPB_MIRRORS, see docs/realworld.md)")
    values = _values(args.manifests)
    gate = validation.Gate((("kp", validation.Options(VERSION)),))
    check = gate("kp", {}, values)
    print(f"kube-prometheus: {check.objects} objects, {len(check.findings)} findings")
    gated = _median(lambda: gate("kp", {}, values), args.repeat)
    on_disk = _median(
        lambda: validation.validate_directory("kp", args.manifests, validation.Options(VERSION)),
        args.repeat,
    )
    tool = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent))
    if tool is None:
        sys.exit("check-jsonschema is not installed (pip install -e '.[dev]')")
    with tempfile.TemporaryDirectory() as tmp:
        pairs = _reference_schemas(args.manifests, Path(tmp))
        rejected: list[int] = []
        reference = _median(lambda: rejected.append(_reference(pairs, tool)), args.reference_runs)
    print(f"(a) build --validate gate (values, cold)   {gated:8.3f} s   budget 1.000 s")
    print(f"(b) kpb validate (files, YAML parsed, cold) {on_disk:8.3f} s")
    print(f"(c) check-jsonschema per file ({len(pairs)} runs)   {reference:8.3f} s")
    print(f"    (the reference rejected {rejected[-1]} files kpb accepts: see _reference)")
    print(f"ratio (c)/(a) {reference / gated:6.1f}x   (c)/(b) {reference / on_disk:6.1f}x")


if __name__ == "__main__":
    main()
