"""``kpb validate``, and what ``kpb build --validate`` shows: findings, one line each.

A finding reads ``ENV: FILE: KIND/NS/NAME: $.path: message`` (FILE relative to the
environment's output directory); ``--json`` lists them in the result instead. Any error exits
1, warnings only with ``--strict``; a bad option or kpb.toml value exits 3.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from kubeprom_build import rendering, validation
from kubeprom_build.cli import complete
from kubeprom_build.cli.app import app, options, report, stderr, stdout
from kubeprom_build.errors import ConfigError, InvalidError

EnvsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="ENV",
        help="Environments whose manifests/<ENV>/ to validate (dev, dev.jsonnet, ...).",
        show_default=False,
        autocompletion=complete.environment_names,
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        help="Validate DIR/<ENV>/ (what 'kpb build --output DIR' wrote) instead of manifests/.",
        show_default=False,
    ),
]

KubeVersionOpt = Annotated[
    str | None,
    typer.Option(
        "--kube-version",
        metavar="1.N",
        help="Kubernetes minor version whose schemas objects must match (default: kube-version "
        f"in kpb.toml, else {validation.DEFAULT_KUBE_VERSION}, the newest on EKS).",
        show_default=False,
    ),
]
StrictOpt = Annotated[
    bool,
    typer.Option("--strict", help="Warnings fail too; unknown kinds are errors, not warnings."),
]
CrdDirOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--crd-dir",
        metavar="DIR",
        help="Directory of CRD manifests for custom kinds the build does not define "
        "(repeatable; added to kpb.toml's crd-dirs).",
        show_default=False,
    ),
]

VALIDATE_HELP = "\n\n".join(
    [
        "Check built manifests before they reach a cluster: Kubernetes objects against the "
        "official schemas of one version, custom resources against their CRDs (from the "
        "build's own setup/ or --crd-dir), plus the rule, Alertmanager and dashboard checks. "
        "Offline: the schemas ship with kpb. Reads manifests/<ENV>/ (run 'kpb build' first).",
        "Examples:",
        "  kpb validate --all                     every environment's manifests",
        "  kpb validate prd --kube-version 1.33   against an older cluster",
        "  kpb validate dev --strict --json       CI: unknown kinds fail too",
        "  kpb build --all --validate             validate before writing manifests/",
    ]
)


@app.command("validate", help=VALIDATE_HELP)
def validate_command(
    ctx: typer.Context,
    envs: EnvsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Validate every environment.")] = False,
    kube_version: KubeVersionOpt = None,
    strict: StrictOpt = False,
    crd_dir: CrdDirOpt = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain-routes",
            help="Also print where each severity and silenced alert is routed by Alertmanager.",
        ),
    ] = False,
    output: OutputOpt = None,
) -> None:
    """Validate built manifests (help text: VALIDATE_HELP)."""
    glob = options(ctx)
    project = glob.project
    selected = _select(project, envs, all_)
    chosen = validation.resolve(project, selected, kube_version, strict, crd_dirs(crd_dir))
    where = Path.cwd() / output if output is not None else None
    request = rendering.BuildRequest(project, glob.vendor_dir, output=where)
    results = []
    with progress(selected, glob.quiet) as step:
        for env in selected:
            step(env)
            results.append(_validate_env(request, env, chosen[env]))
    show(results, glob.json)
    if explain:
        _explain(request, selected)
    report(result_document(results))
    fail_if_invalid(results)


def _select(project: Path, envs: list[str] | None, all_: bool) -> list[str]:
    if all_ and envs:
        raise ConfigError("give environment names or --all, not both")
    if all_:
        found = rendering.environments(project)
        if not found:
            raise ConfigError(f"--all: no environments in {project / rendering.ENV_DIR}")
        return found
    if not envs:
        raise ConfigError("name the environments to validate (e.g. 'kpb validate dev') or --all")
    return list(dict.fromkeys(rendering.environment_name(env) for env in envs))


def crd_dirs(given: list[Path] | None) -> tuple[Path, ...]:
    """``--crd-dir`` values, absolute (relative to where kpb runs), each a directory."""
    folders = tuple((Path.cwd() / d).resolve() for d in given or [])
    for folder, shown in zip(folders, given or [], strict=True):
        if not folder.is_dir():
            raise ConfigError(f"--crd-dir {shown}: not a directory")
    return folders


def _output_dir(request: rendering.BuildRequest, env: str) -> Path:
    """The directory a build of ``env`` writes, checked as the build checks it (no link on
    the way: a committed ``manifests -> /elsewhere`` is refused, not read)."""
    folder = rendering.output_dir(request, env, create=False)
    if not folder.is_dir():
        label = rendering.output_label(request, env)
        raise ConfigError(f"{label}/ does not exist: run 'kpb build {env}' first")
    return folder


def _validate_env(
    request: rendering.BuildRequest, env: str, chosen: validation.Options
) -> validation.Result:
    return validation.validate_directory(env, _output_dir(request, env), chosen)


def _explain(request: rendering.BuildRequest, envs: Sequence[str]) -> None:
    for env in envs:
        table = validation.explain_directory(_output_dir(request, env))
        stdout.print(f"{env}:", markup=False)
        stdout.print(table, markup=False)


@contextmanager
def progress(envs: list[str], quiet: bool) -> Iterator[Any]:
    """A spinner naming the environment being validated (terminal only)."""
    if quiet or not stderr.is_terminal:
        yield lambda _env: None
        return
    with stderr.status("validating …") as status:
        yield lambda env: status.update(f"validating {env} ({envs.index(env) + 1}/{len(envs)}) …")


def show(results: Sequence[validation.Result], as_json: bool, redact: Any = None) -> None:
    """Every finding on one line (stdout), then a summary per environment (stderr)."""
    if as_json:
        return
    clean = redact or (lambda text: text)
    for result in results:
        for finding in result.findings:
            stdout.print(clean(finding.line(result.env)), markup=False, highlight=False)
    for result in results:
        stderr.print(result.summary(), markup=False, highlight=False)


def result_document(results: Sequence[validation.Result], redact: Any = None) -> dict[str, Any]:
    """The ``--json`` result (docs/json.md, ``result_validate``)."""
    clean = redact or (lambda text: text)
    return {
        "environments": [
            {
                "environment": r.env,
                "kube_version": r.options.kube_version,
                "strict": r.options.strict,
                "objects": r.objects,
                "errors": r.errors,
                "warnings": r.warnings,
                "valid": not r.failed,
            }
            for r in results
        ],
        "findings": [
            {key: clean(value) for key, value in f.as_json(r.env).items()}
            for r in results
            for f in r.findings
        ],
    }


def fail_if_invalid(results: Sequence[validation.Result]) -> None:
    failed = [r for r in results if r.failed]
    if failed:
        what = ", ".join(f"{r.env} ({r.counts()})" for r in failed)
        raise InvalidError(f"validation failed: {what}")
