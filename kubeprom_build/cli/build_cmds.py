"""Commands that render environments: ``kpb build`` and ``kpb diff``.

Only this module talks to the terminal for building: it turns options into a
:class:`~kubeprom_build.rendering.pipeline.BuildRequest`, shows progress, renders the summary
table or the
``--json`` result, and raises the error whose class carries the exit code (an out-of-date
``--check`` exits 1, an evaluation error 3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kubeprom_build import rendering, validation, vendoring
from kubeprom_build.cli import complete, validate_cmds, vendor_cmds
from kubeprom_build.cli.app import app, options, report, stderr, stdout
from kubeprom_build.errors import (
    EXIT_DIFFERENCES,
    BuildError,
    ConfigError,
    NotReadyError,
    OutOfDateError,
)

_VAR_HELP = {
    "--ext-str": "External string variable NAME=VALUE, or NAME to take it from $NAME.",
    "--ext-str-file": "External string variable NAME=FILE (file contents).",
    "--ext-code": "External code variable NAME=CODE, or NAME to take it from $NAME.",
    "--ext-code-file": "External code variable NAME=FILE.",
    "--tla-str": "Top-level string argument NAME=VALUE, or NAME to take it from $NAME.",
    "--tla-str-file": "Top-level string argument NAME=FILE.",
    "--tla-code": "Top-level code argument NAME=CODE, or NAME to take it from $NAME.",
    "--tla-code-file": "Top-level code argument NAME=FILE.",
}


def _var_option(flag: str) -> Any:
    metavar = "NAME=FILE" if flag.endswith("-file") else "NAME[=VALUE]"
    return typer.Option(flag, help=_VAR_HELP[flag], metavar=metavar, show_default=False)


EnvsArg = Annotated[
    list[str] | None,
    typer.Argument(
        metavar="ENV",
        help="Environments: dev means environments/dev.jsonnet or environments/dev/main.jsonnet; "
        "dev.jsonnet and environments/dev.jsonnet are accepted too.",
        show_default=False,
        autocompletion=complete.environment_names,
    ),
]
EngineOpt = Annotated[
    str | None,
    typer.Option(
        "--engine",
        metavar="rs|go|cpp",
        help="Jsonnet engine (default: $KPB_ENGINE, else the fastest installed).",
    ),
]
JpathOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "-J",
        "--jpath",
        metavar="DIR",
        help="Extra library dir, searched after jsonnet/ and vendor/.",
    ),
]
OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        metavar="DIR",
        help="Write (or compare) DIR/<ENV>/ instead of manifests/<ENV>/. Inside the project DIR "
        "follows the project's rules (real directories, no links); outside it is used as given.",
        show_default=False,
    ),
]

# build and diff both list all ten evaluation options (--engine, -J and these eight) in their
# signatures: typer reads options from there, and a reader sees every option a command takes.
ExtStrOpt = Annotated[list[str] | None, _var_option("--ext-str")]
ExtStrFileOpt = Annotated[list[str] | None, _var_option("--ext-str-file")]
ExtCodeOpt = Annotated[list[str] | None, _var_option("--ext-code")]
ExtCodeFileOpt = Annotated[list[str] | None, _var_option("--ext-code-file")]
TlaStrOpt = Annotated[list[str] | None, _var_option("--tla-str")]
TlaStrFileOpt = Annotated[list[str] | None, _var_option("--tla-str-file")]
TlaCodeOpt = Annotated[list[str] | None, _var_option("--tla-code")]
TlaCodeFileOpt = Annotated[list[str] | None, _var_option("--tla-code-file")]


@dataclass(frozen=True)
class EvalFlags:
    """What ``build`` and ``diff`` share: engine, extra library dirs, ext/TLA flags as given."""

    engine: str | None = None
    jpath: tuple[Path, ...] = ()
    variables: tuple[tuple[str, str], ...] = ()  # (flag, argument), in rendering.FLAGS order


def _eval_flags(params: Mapping[str, Any]) -> EvalFlags:
    """The shared options of ``build`` and ``diff`` (their ``ctx.params``) as one value.

    Both commands declare the ten options with the typed aliases above; click hands their
    values over by parameter name, so they are read here once instead of passed on by hand.
    Variables are taken flag by flag in :data:`rendering.FLAGS` order, each flag's arguments
    in the order given; that order decides which flag a "NAME already set by" error names.
    """
    variables = tuple(
        (flag, arg)
        for flag in rendering.FLAGS
        for arg in params.get(flag.removeprefix("--").replace("-", "_")) or ()
    )
    return EvalFlags(params.get("engine"), tuple(params.get("jpath") or ()), variables)


def _request(
    ctx: typer.Context,
    evaluation: EvalFlags,
    check: bool = False,
    force: bool = False,
    output: Path | None = None,
) -> rendering.BuildRequest:
    opts = options(ctx)
    extra = tuple(p.resolve() for p in evaluation.jpath)
    for folder in extra:
        if not folder.is_dir():
            raise ConfigError(f"-J {folder}: not a directory")
    return rendering.BuildRequest(
        project=opts.project,
        vendor_dir=opts.vendor_dir,
        jpath=extra,
        variables=rendering.parse_variables(evaluation.variables),
        engine=evaluation.engine,
        check=check,
        force=force,
        wait_seconds=opts.wait_seconds,
        output=Path.cwd() / output if output is not None else None,
        vendor_names=vendoring.declared_names(opts.project),
    )


_SHOWN_PACKAGES = 3


def _require_ready(ctx: typer.Context) -> None:
    """Refuse (exit 4, one line) to evaluate against a vendor/ that does not match the lock.

    Otherwise a build after ``git pull`` brought a teammate's new lock would render the old
    packages (and a stamp could even call that up to date), and a fresh clone would fail deep
    in jsonnet. The check is the no-op check of ``kpb vendor``: no network, no git.
    """
    glob = options(ctx)
    opts = vendoring.Options(glob.project, glob.vendor_dir, wait_seconds=glob.wait_seconds)
    stale = vendoring.ready(opts)
    if not stale:
        return
    shown = ", ".join(stale[:_SHOWN_PACKAGES])
    more = f" and {len(stale) - _SHOWN_PACKAGES} more" if len(stale) > _SHOWN_PACKAGES else ""
    folder = glob.vendor_dir.relative_to(glob.project).as_posix()
    if not glob.vendor_dir.exists():
        packages = "package" if len(stale) == 1 else "packages"
        what = f"{folder}/ is missing ({len(stale)} locked {packages}: {shown}{more})"
    else:
        what = (
            f"{folder}/ does not match jsonnetfile.lock.json ({len(stale)} missing or stale: "
            f"{shown}{more})"
        )
    raise NotReadyError(f"{what}; run 'kpb vendor' first, or 'kpb build --vendor'")


def _select(project: Path, envs: list[str] | None, all_: bool) -> list[str]:
    if all_ and envs:
        raise ConfigError("give environment names or --all, not both")
    if all_:
        found = rendering.environments(project)
        if not found:
            raise ConfigError(f"--all: no environments in {project / rendering.ENV_DIR}")
        return found
    if not envs:
        raise ConfigError("name the environments to build (e.g. 'kpb build dev') or use --all")
    return list(dict.fromkeys(rendering.environment_name(env) for env in envs))


BUILD_HELP = "\n\n".join(
    [
        "Render environments/<ENV>.jsonnet (or environments/<ENV>/main.jsonnet) into "
        "manifests/<ENV>/, one YAML file per top-level key. When nothing changed since the last "
        "build the evaluation is skipped (--force rebuilds).",
        "Examples:",
        "  kpb build dev                        environments/dev.jsonnet -> manifests/dev/",
        "  kpb build environments/dev.jsonnet   the same (Tanka and build.sh habit)",
        "  kpb build --all -j 4                 every environment, 4 at a time",
        "  kpb build --check --all              CI: exit 1 if manifests/ is out of date",
        "  kpb build --all --validate           validate first; an invalid env is not written",
        "  kpb build --all --output /tmp/out    write /tmp/out/<ENV>/ instead",
        "  kpb build prd --ext-str-file pw=secrets/prd.txt --json",
    ]
)
DIFF_HELP = "\n\n".join(
    [
        "Show a unified diff of manifests/<ENV>/ against a fresh build; exit 1 if they differ. "
        "Writes nothing. With --json only the names of differing files are listed (a diff "
        "could show secret values).",
        "Examples:",
        "  kpb diff prd",
        "  kpb diff --all --output deploy/manifests",
    ]
)


@app.command("build", help=BUILD_HELP)
def build_command(
    ctx: typer.Context,
    envs: EnvsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Build every environment.")] = False,
    check: Annotated[
        bool,
        typer.Option("--check", help="Write nothing; exit 1 if manifests/ is out of date."),
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Evaluate even if nothing changed since last build.")
    ] = False,
    vendor_first: Annotated[
        bool,
        typer.Option(
            "--vendor", help="Run 'kpb vendor' first, then build (without it: exit 4 if stale)."
        ),
    ] = False,
    output: OutputOpt = None,
    engine: EngineOpt = None,
    jpath: JpathOpt = None,
    ext_str: ExtStrOpt = None,
    ext_str_file: ExtStrFileOpt = None,
    ext_code: ExtCodeOpt = None,
    ext_code_file: ExtCodeFileOpt = None,
    tla_str: TlaStrOpt = None,
    tla_str_file: TlaStrFileOpt = None,
    tla_code: TlaCodeOpt = None,
    tla_code_file: TlaCodeFileOpt = None,
    validate: Annotated[
        bool,
        typer.Option(
            "--validate",
            help="Validate what was rendered before writing it (see 'kpb validate'); an "
            "environment with errors is not written, exit 1.",
        ),
    ] = False,
    kube_version: validate_cmds.KubeVersionOpt = None,
    strict: validate_cmds.StrictOpt = False,
    crd_dir: validate_cmds.CrdDirOpt = None,
    jobs: Annotated[
        int,
        typer.Option(
            "-j",
            "--jobs",
            metavar="N",
            help="Parallel environments (default: cores).",
            show_default=False,
        ),
    ] = 0,
) -> None:
    """Render environments into manifests (help text: BUILD_HELP)."""
    evaluation = _eval_flags(ctx.params)
    request = _request(ctx, evaluation, check=check, force=force, output=output)
    selected = _select(request.project, envs, all_)
    chosen: dict[str, validation.Options] = {}
    if validate:
        dirs = validate_cmds.crd_dirs(crd_dir)
        chosen = validation.resolve(request.project, selected, kube_version, strict, dirs)
        request = dataclasses.replace(request, gate=validation.Gate(tuple(chosen.items())))
    elif kube_version is not None or strict or crd_dir:
        raise ConfigError("--kube-version, --strict and --crd-dir need --validate")
    if vendor_first and (request.project / "jsonnetfile.json").is_file():  # else: nothing to vendor
        vendor_cmds.run_vendoring(ctx, vendoring.vendor, offline=False, pins=False, jobs=8)
    _require_ready(ctx)
    glob = options(ctx)
    with _progress(selected, glob.quiet) as progress:
        outcome = rendering.build(request, selected, jobs=jobs, progress=progress)
    checked = _validated(request, outcome, chosen) if validate else []
    document = _json_report(request, outcome, glob.warnings)
    redact = request.variables.redactor().redact
    if validate:
        document["validation"] = validate_cmds.result_document(checked, redact)
    report(document)
    if not glob.json:
        _print_summary(request, outcome, check)
    validate_cmds.show(checked, glob.json, redact)
    _finish(request, outcome, check, invalid=[r.env for r in checked if r.failed])
    validate_cmds.fail_if_invalid(checked)


def _validated(
    request: rendering.BuildRequest,
    outcome: rendering.BuildReport,
    chosen: dict[str, validation.Options],
) -> list[validation.Result]:
    """What each environment's gate found; an environment skipped as current is read from disk.

    A skipped environment's output is exactly what a build would render (its stamp proved
    it), so validating the files there is validating this build.
    """
    results: list[validation.Result] = []
    for r in outcome.results:
        if isinstance(r.gate_report, validation.Result):
            results.append(r.gate_report)
        elif r.error is None and r.skipped:
            label = rendering.output_label(request, r.env)
            folder = Path(label) if Path(label).is_absolute() else request.project / label
            results.append(validation.validate_directory(r.env, folder, chosen[r.env]))
    return results


@contextmanager
def _progress(envs: list[str], quiet: bool) -> Iterator[rendering.Progress]:
    """A spinner with how many environments are done and which are still pending (terminal only)."""
    if quiet or not stderr.is_terminal:
        yield lambda _env, _stage: None
        return
    pending = list(envs)
    with stderr.status(f"building {', '.join(envs)} …") as status:

        def update(env: str, stage: str) -> None:
            if stage == "done" and env in pending:
                pending.remove(env)
            done = len(envs) - len(pending)
            status.update(f"building: {done}/{len(envs)} done, pending {', '.join(pending)} …")

        yield update


def _print_summary(
    request: rendering.BuildRequest, outcome: rendering.BuildReport, check: bool
) -> None:
    """The table, and with ``check`` the stale paths (an output key can be made of a secret)."""
    redact = request.variables.redactor().redact
    if all(r.error is not None for r in outcome.results):
        return  # the errors say it all
    # Off a terminal rich assumes 80 columns; minimum widths keep headers and times whole in logs.
    table = Table(box=None, pad_edge=False, padding=(0, 1))
    for column in ("environment", "engine", "added", "changed", "removed", "unchanged", "time"):
        table.add_column(
            column,
            justify="left" if column in ("environment", "engine") else "right",
            no_wrap=True,
            min_width=max(len(column), 6),
        )
    table.add_column("status", no_wrap=True, min_width=len("up to date (skipped)"))
    for r in outcome.results:
        d = r.diff
        counts = [str(len(x)) for x in (d.added, d.changed, d.removed)] if d else ["-"] * 3
        unchanged = str(d.unchanged) if d else "-"
        table.add_row(r.env, r.engine, *counts, unchanged, f"{r.seconds:.2f}s", _status(r, check))
    stdout.print(table)
    if check:
        for r in outcome.results:
            if r.diff and not r.diff.clean:
                where = rendering.output_label(request, r.env)
                for label, paths in (("+", r.diff.added), ("~", r.diff.changed)):
                    for path in paths:
                        stdout.print(f"  {label} {where}/{redact(path)}", markup=False)
                for path in r.diff.removed:
                    stdout.print(f"  - {where}/{redact(path)}", markup=False)


def _status(result: rendering.EnvResult, check: bool) -> str:
    if result.error is not None:
        return "FAILED"
    if result.skipped:
        return "up to date (skipped)"
    if check:
        return "up to date" if result.diff and result.diff.clean else "OUT OF DATE"
    return "unchanged" if result.diff and result.diff.clean else "written"


def _json_report(
    request: rendering.BuildRequest, outcome: rendering.BuildReport, warnings: list[str]
) -> dict[str, Any]:
    """Names of variables, never values; paths redacted (an output key can hold a secret).

    ``warnings`` are those logged while the command ran; the library redacts what may quote
    a secret before it logs it.
    """
    redact = request.variables.redactor().redact
    return {
        "check": request.check,
        "variables": request.variables.names(),
        "warnings": list(warnings),
        "environments": [
            {
                "environment": r.env,
                "output": rendering.output_label(request, r.env),
                "engine": r.engine,
                "seconds": round(r.seconds, 3),
                "skipped": r.skipped,
                "error": str(r.error) if r.error is not None else None,
                "up_to_date": bool(r.diff and r.diff.clean) if r.error is None else None,
                "added": [redact(p) for p in r.diff.added] if r.diff else [],
                "changed": [redact(p) for p in r.diff.changed] if r.diff else [],
                "removed": [redact(p) for p in r.diff.removed] if r.diff else [],
                "unchanged": r.diff.unchanged if r.diff else 0,
            }
            for r in outcome.results
        ],
    }


def _finish(
    request: rendering.BuildRequest,
    outcome: rendering.BuildReport,
    check: bool,
    invalid: list[str] | None = None,
) -> None:
    """Raise the error the outcome calls for; invalid environments are left to the caller."""
    failed = [r for r in outcome.results if r.error is not None and r.env not in (invalid or [])]
    if len(failed) == 1 and failed[0].error is not None:
        raise failed[0].error
    if failed:
        for r in failed:
            stderr.print(f"error: {r.error}", markup=False, highlight=False)
        names = ", ".join(r.env for r in failed)
        raise BuildError(f"{len(failed)} of {len(outcome.results)} environments failed: {names}")
    stale = [r.env for r in outcome.results if r.diff and not r.diff.clean]
    if check and stale:
        where = ", ".join(rendering.output_label(request, env) for env in stale)
        again = f" --output {request.output}" if request.output is not None else ""
        raise OutOfDateError(
            f"out of date: {where}; run 'kpb build {' '.join(stale)}{again}' and commit the result"
        )


@app.command("diff", help=DIFF_HELP)
def diff_command(
    ctx: typer.Context,
    envs: EnvsArg = None,
    all_: Annotated[bool, typer.Option("--all", help="Diff every environment.")] = False,
    output: OutputOpt = None,
    engine: EngineOpt = None,
    jpath: JpathOpt = None,
    ext_str: ExtStrOpt = None,
    ext_str_file: ExtStrFileOpt = None,
    ext_code: ExtCodeOpt = None,
    ext_code_file: ExtCodeFileOpt = None,
    tla_str: TlaStrOpt = None,
    tla_str_file: TlaStrFileOpt = None,
    tla_code: TlaCodeOpt = None,
    tla_code_file: TlaCodeFileOpt = None,
) -> None:
    """Diff manifests against a fresh build (help text: DIFF_HELP)."""
    evaluation = _eval_flags(ctx.params)
    request = _request(ctx, evaluation, output=output)
    selected = _select(request.project, envs, all_)
    _require_ready(ctx)
    glob = options(ctx)
    if glob.json:
        _diff_json(request, selected, glob.warnings)
        return
    differs = False
    for env in selected:
        text = rendering.diff_environment(request, env)
        if text:
            differs = True
            typer.echo(text, nl=False)
    if differs:
        raise typer.Exit(EXIT_DIFFERENCES)


def _diff_json(request: rendering.BuildRequest, selected: list[str], warnings: list[str]) -> None:
    """``diff --json``: what ``build --check --force`` finds, as names only (no file text)."""
    check = dataclasses.replace(request, check=True, force=True)
    outcome = rendering.build(check, selected)
    doc = _json_report(check, outcome, warnings)
    report({"environments": doc["environments"], "warnings": doc["warnings"]})
    _finish(check, outcome, check=False)
    if any(r.diff and not r.diff.clean for r in outcome.results):
        raise typer.Exit(EXIT_DIFFERENCES)
