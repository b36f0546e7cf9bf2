"""Commands that manage vendor/: ``init``, ``install``, ``vendor`` and ``update``.

They turn flags into :class:`kubeprom_build.vendoring.commands.Options`, render progress events
(a rich
display on a terminal, plain lines otherwise, nothing with ``--quiet``) and print results.
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table

from kubeprom_build import project as projects
from kubeprom_build import scaffold, vendoring
from kubeprom_build.cli import complete
from kubeprom_build.cli.app import GlobalOptions, app, options, report, stderr, stdout
from kubeprom_build.errors import ConfigError, OutOfDateError

OfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline", help="Use only the kpb cache, never the network; fail naming what is missing."
    ),
]
UpdateOfflineOpt = Annotated[
    bool,
    typer.Option(
        "--offline",
        help="Use only the kpb cache, never the network. Commit-sha versions and local sources "
        "can move; a branch or tag fails, since finding its newest commit needs the network.",
    ),
]
PinsOpt = Annotated[
    bool,
    typer.Option(
        "--upstream-pins",
        help="For dependencies of a dependency that are not locked yet, use the versions pinned "
        "in that dependency's own jsonnetfile.lock.json (the versions its authors tested).",
    ),
]
JobsOpt = Annotated[
    int,
    typer.Option(
        "-j",
        "--jobs",
        min=1,
        max=64,
        metavar="N",
        help="How many remotes to fetch from at once (1-64).",
    ),
]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        show_default=False,
        help="Give up on a remote that sends no data for this long (default: $KPB_TIMEOUT, "
        "else 60).",
    ),
]


def _many(metavar: str, help_text: str, **extra: Any) -> Any:
    """An optional list argument (``install URI...``, ``update DEP...``)."""
    return typer.Argument(metavar=metavar, help=help_text, show_default=False, **extra)


def _paragraphs(*parts: str) -> str:
    """Help text as one line per paragraph: typer keeps source line breaks verbatim."""
    return "\n\n".join(parts)


KP = "github.com/prometheus-operator/kube-prometheus/jsonnet/kube-prometheus@v0.18.0"
INIT_HELP = _paragraphs(
    "Create a project that builds at once, with no network: jsonnetfile.json (as 'jb init' "
    "writes it), environments/dev.jsonnet (a ConfigMap, with a commented kube-prometheus "
    "example), jsonnet/app.libsonnet, and /vendor/ and /.kpb/ in .gitignore (appended, never "
    "duplicated). Refuses to overwrite any file, naming those that exist.",
    "Inside an existing project's subdirectory it refuses too (a second project there is "
    "rarely meant); pass -C DIR to create one on purpose.",
    "Examples:",
    "  kpb init && kpb build dev       new project, first manifests in manifests/dev/",
    "  kpb init --minimal              only jsonnetfile.json, exactly like 'jb init'",
    "  kpb -C deploy init              in the directory deploy/",
)
INSTALL_HELP = _paragraphs(
    "Add or change dependencies in jsonnetfile.json, then vendor them (like 'jb install "
    "URI...'). A changed dependency is re-resolved; everything else keeps its locked commit. "
    "Without URIs this is the same as 'kpb vendor'.",
    "Examples:",
    f"  kpb install {KP}",
    "  kpb install github.com/grafana/jsonnet-libs/mixin-utils@master --legacy-name utils",
    f"  kpb install --upstream-pins {KP}",
    "  kpb install ../libs/my-lib        (a local directory: linked, not copied)",
)
VENDOR_HELP = _paragraphs(
    "Make vendor/ exactly what jsonnetfile.lock.json pins (like 'jb install' without "
    "arguments). Entries of jsonnetfile.json that the lock lacks are resolved and added to "
    "the lock. A second run with nothing changed only reads vendor/: no network, no git.",
    "Downloads go through a cache shared by all projects ($KPB_CACHE, else "
    "$XDG_CACHE_HOME/kpb, else ~/.cache/kpb), so a package is downloaded once per machine.",
    "Examples:",
    "  kpb vendor                 fill vendor/ from the lock",
    "  kpb vendor --verify        CI check: fail if vendor/ differs from the lock",
    "  kpb vendor --offline       use the cache only (no network)",
    "  kpb -C deploy vendor -j 4  another project directory, at most 4 remotes at once",
)
UPDATE_HELP = _paragraphs(
    "Move dependencies to the newest commit of their version (branch or tag) and rewrite "
    "jsonnetfile.lock.json, then vendor. Without arguments every entry is re-resolved, like "
    "'jb update'; with DEP arguments only those move and everything else keeps its commit. "
    "jsonnetfile.json is never changed. Prints a table of what moved (old → new commit).",
    "DEP may be a name or the URI it was installed with, also as Renovate and other bots "
    "pass it to 'jb update': https://github.com/OWNER/REPO.git/SUBDIR, "
    "github.com/OWNER/REPO/SUBDIR[@VERSION].",
    "Examples:",
    "  kpb update",
    "  kpb update github.com/grafana/jsonnet-libs/mixin-utils",
    "  kpb update https://github.com/grafana/jsonnet-libs.git/mixin-utils",
    "  kpb update --offline       re-lock after pinning commit shas, from the cache only",
)


#: Columns of the live display besides the package name: bar, count, status, elapsed time.
_BAR_WIDTH = 10
_STATUS_WIDTH = 20
_FIXED_WIDTH = _BAR_WIDTH + 7 + _STATUS_WIDTH + 7 + 4
_SHA = re.compile(r"\A[0-9a-f]{40}([0-9a-f]{24})?\Z")


def elide(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, cut in the middle: a package's host and its
    last path components are what tell packages apart."""
    if len(text) <= width:
        return text
    if width < 3:
        return text[:width]
    tail = (width - 1) // 2
    head = width - 1 - tail
    return f"{text[:head]}…{text[len(text) - tail :]}"


def _version(detail: str) -> str:
    return detail[:12] if _SHA.match(detail) else detail


class _Reporter:
    """Renders vendoring events: rich progress on a terminal, plain lines elsewhere.

    Plain output names each package once when its fetch starts (``fetching``), once when it is
    in place (``fetched``/``linked``) and each removal; packages already in place only count
    in the summary, so a no-op run prints one line. The live display keeps one row per
    package within the terminal's width (names elided in the middle, never wrapped).
    """

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.live = not quiet and stderr.is_terminal
        self.progress: Progress | None = None
        self.tasks: dict[str, TaskID] = {}
        self.total = TaskID(0)
        self.lock = threading.Lock()
        self.reported: set[tuple[str, str]] = set()
        self.finished: set[str] = set()
        self.name_width = 40

    @contextlib.contextmanager
    def active(self) -> Iterator[_Reporter]:
        if not self.live:
            yield self
            return
        self.name_width = max(12, stderr.width - _FIXED_WIDTH)
        self.progress = Progress(
            TextColumn("{task.description}", table_column=_column(self.name_width)),
            BarColumn(bar_width=_BAR_WIDTH),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[status]}", table_column=_column(_STATUS_WIDTH)),
            TimeElapsedColumn(),
            console=stderr,
            transient=False,
        )
        self.total = self.progress.add_task("all packages", total=0, status="")
        with self.progress:
            yield self

    def __call__(self, event: vendoring.Event) -> None:
        with self.lock:
            if self.progress is not None:
                self._live(event)
            elif not self.quiet:
                self._plain(event)

    def _plain(self, event: vendoring.Event) -> None:
        # Packages already in place are counted in the summary line; a package requested by
        # several dependents is reported once.
        if event.kind == "cached" or (event.kind, event.name) in self.reported:
            return
        self.reported.add((event.kind, event.name))
        lines = {
            "fetching": f"fetching {event.name} {_version(event.detail)}",
            "fetched": f"fetched  {event.name} {event.detail[:12]}",
            "linked": f"linked   {event.name} -> {event.detail}",
            "removed": f"CLEAN    {event.name}",
        }
        if event.kind in lines:
            stderr.print(lines[event.kind], markup=False, highlight=False)

    def _live(self, event: vendoring.Event) -> None:
        progress = self.progress
        assert progress is not None
        if event.kind == "removed":
            line = elide(f"CLEAN {event.name}", progress.console.width)
            progress.console.print(line, markup=False, highlight=False, no_wrap=True)
            return
        task = self.tasks.get(event.name)
        if task is None:
            shown = elide(event.name, self.name_width)
            task = self.tasks[event.name] = progress.add_task(shown, total=1, status="")
            progress.update(self.total, total=len(self.tasks))
        done = event.kind in ("fetched", "cached", "linked")
        status: str = event.kind
        if event.kind == "fetching":
            status = f"fetching {_version(event.detail)}"
        elif event.kind == "fetched":
            status = f"fetched {event.detail[:12]}"
        progress.update(task, completed=1 if done else 0, status=elide(status, _STATUS_WIDTH))
        if done and event.name not in self.finished:  # count each package once
            self.finished.add(event.name)
            progress.advance(self.total)


def _column(width: int) -> Column:
    """A table column of exactly ``width`` cells that never wraps."""
    return Column(width=width, min_width=width, max_width=width, no_wrap=True, overflow="crop")


def _options(
    glob: GlobalOptions,
    reporter: _Reporter,
    *,
    offline: bool,
    pins: bool,
    jobs: int,
    timeout: float | None = None,
) -> vendoring.Options:
    return vendoring.Options(
        project=glob.project,
        vendor_dir=glob.vendor_dir,
        offline=offline,
        upstream_pins=pins,
        jobs=jobs,
        wait_seconds=glob.wait_seconds,
        progress=reporter,
        timeout=timeout,
    )


def run_vendoring(
    ctx: typer.Context,
    action: Callable[[vendoring.Options], vendoring.Outcome],
    *,
    offline: bool,
    pins: bool,
    jobs: int,
    timeout: float | None = None,
    show_changes: bool = False,
) -> None:
    """What every vendoring command does around its core call: progress, summary."""
    glob = options(ctx)
    reporter = _Reporter(glob.quiet)
    opts = _options(glob, reporter, offline=offline, pins=pins, jobs=jobs, timeout=timeout)
    with reporter.active():
        outcome = action(opts)
    report(_result(outcome))
    if show_changes and not glob.json:
        _print_changes(outcome)
    _summary(glob, outcome)


def _result(outcome: vendoring.Outcome) -> dict[str, Any]:
    """The ``--json`` result of install, vendor and update (docs/json.md)."""
    return {
        "packages": sorted(d.name for d in outcome.lock),
        "fetched": sorted(outcome.fetched),
        "removed": sorted(outcome.removed),
        "lock_updated": outcome.wrote_lock,
        "changes": [{"name": c.name, "old": c.old, "new": c.new} for c in outcome.changes],
    }


def _summary(glob: GlobalOptions, outcome: vendoring.Outcome) -> None:
    if glob.quiet:
        return
    kept = len(outcome.lock) - len(outcome.fetched)
    lock = "lock updated" if outcome.wrote_lock else "lock unchanged"
    stderr.print(
        f"vendor/ holds {len(outcome.lock)} packages ({len(outcome.fetched)} fetched, "
        f"{kept} already in place); {lock}",
        markup=False,
    )


@app.command(help=INIT_HELP)
def init(
    ctx: typer.Context,
    minimal: Annotated[
        bool,
        typer.Option("--minimal", help="Write only jsonnetfile.json, as 'jb init' does."),
    ] = False,
) -> None:
    """Scaffold a project (help text: INIT_HELP)."""
    glob = options(ctx)
    target = glob.root if glob.given else glob.start
    assert target is not None
    if not glob.given:
        enclosing = projects.find_project(glob.start)
        if enclosing is not None and enclosing != glob.start:
            raise ConfigError(
                f"{glob.start} is inside the kpb project {enclosing}; 'kpb init' here would "
                "start a second project. Run kpb commands from here as they are, or pass "
                "-C DIR to create a new project on purpose"
            )
    done = scaffold.init(target, minimal=minimal)
    report({"project": str(target), "created": list(done.created), "appended": list(done.appended)})
    if not glob.quiet:
        for rel in done.created:
            stderr.print(f"created  {rel}", markup=False)
        for rel in done.appended:
            stderr.print(f"appended {rel}", markup=False)
        if not minimal:
            stderr.print("next: kpb build dev", markup=False)


@app.command(help=INSTALL_HELP)
def install(
    ctx: typer.Context,
    uris: Annotated[
        list[str] | None,
        _many(
            "URI[@VERSION]",
            "Packages to add or change: github.com/OWNER/REPO\\[/SUBDIR]\\[@VERSION], an "
            "https/ssh remote, or a local directory. VERSION is a branch, tag or commit "
            "(default master).",
        ),
    ] = None,
    legacy_name: Annotated[
        str,
        typer.Option(
            "--legacy-name",
            metavar="NAME",
            help="Name of the vendor/<name> compatibility symlink.",
        ),
    ] = "",
    single: Annotated[
        bool,
        typer.Option("-1", "--single", help="Do not install the package's own dependencies."),
    ] = False,
    offline: OfflineOpt = False,
    upstream_pins: PinsOpt = False,
    jobs: JobsOpt = 8,
    timeout: TimeoutOpt = None,
) -> None:
    """Add or change dependencies, then vendor (help text: INSTALL_HELP)."""

    def action(opts: vendoring.Options) -> vendoring.Outcome:
        return vendoring.install(opts, uris or [], legacy_name=legacy_name, single=single)

    run_vendoring(ctx, action, offline=offline, pins=upstream_pins, jobs=jobs, timeout=timeout)


@app.command("vendor", help=VENDOR_HELP)
def vendor_command(
    ctx: typer.Context,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Check only (offline): recompute every sum and report packages that are "
            "missing, modified or have extra files. Exits 1 on any difference; changes nothing.",
        ),
    ] = False,
    offline: OfflineOpt = False,
    upstream_pins: PinsOpt = False,
    jobs: JobsOpt = 8,
    timeout: TimeoutOpt = None,
) -> None:
    """Make vendor/ what the lock pins (help text: VENDOR_HELP)."""
    if verify:
        _verify(options(ctx))
        return
    run_vendoring(
        ctx, vendoring.vendor, offline=offline, pins=upstream_pins, jobs=jobs, timeout=timeout
    )


def _verify(glob: GlobalOptions) -> None:
    """``vendor --verify``: list every problem, then fail once with a count."""
    opts = vendoring.Options(glob.project, glob.vendor_dir, wait_seconds=glob.wait_seconds)
    problems = vendoring.verify(opts)
    report(
        {
            "verified": not problems,
            "problems": [{"package": p.name, "kind": p.kind, "detail": p.detail} for p in problems],
        }
    )
    for problem in problems:
        stderr.print(problem.message(), markup=False, highlight=False)
    if problems:
        raise OutOfDateError(
            f"vendor/ differs from jsonnetfile.lock.json in {len(problems)} package(s); "
            "run 'kpb vendor' to restore it"
        )
    if not glob.quiet:
        stderr.print("vendor/ matches jsonnetfile.lock.json", markup=False)


@app.command(help=UPDATE_HELP)
def update(
    ctx: typer.Context,
    deps: Annotated[
        list[str] | None,
        _many(
            "DEP",
            "Dependencies to move (their name, e.g. github.com/grafana/jsonnet-libs/"
            "mixin-utils, or their install URI). Default: all of them.",
            autocompletion=complete.dependency_names,
        ),
    ] = None,
    offline: UpdateOfflineOpt = False,
    upstream_pins: PinsOpt = False,
    jobs: JobsOpt = 8,
    timeout: TimeoutOpt = None,
) -> None:
    """Move dependencies and rewrite the lock (help text: UPDATE_HELP)."""

    def action(opts: vendoring.Options) -> vendoring.Outcome:
        return vendoring.update(opts, deps or [])

    run_vendoring(
        ctx,
        action,
        offline=offline,
        pins=upstream_pins,
        jobs=jobs,
        timeout=timeout,
        show_changes=True,
    )


def _print_changes(outcome: vendoring.Outcome) -> None:
    if not outcome.changes:
        stdout.print("nothing moved", markup=False)
        return
    table = Table(box=None, show_header=True, header_style="bold", pad_edge=False)
    table.add_column("dependency")
    table.add_column("old")
    table.add_column("")
    table.add_column("new")
    for change in outcome.changes:
        table.add_row(change.name, change.old[:12] or "(new)", "→", change.new[:12] or "(gone)")
    stdout.print(table)
