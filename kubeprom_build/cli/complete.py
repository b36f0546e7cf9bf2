"""Shell completion values: environment names (build, diff) and dependency names (update).

typer calls these while the shell completes a word, before any command runs, so they find the
project themselves (``-C`` on the command line, else upward from the current directory) and
never raise: a broken project completes nothing rather than printing an error into the prompt.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from kubeprom_build import project as projects
from kubeprom_build import rendering, vendoring


def _project(ctx: typer.Context) -> Path | None:
    given = ctx.find_root().params.get("project")
    if isinstance(given, Path | str) and str(given):
        return Path(given).resolve()
    return projects.find_project(Path.cwd())


def environment_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Environments of the discovered project that start with ``incomplete``."""
    root = _project(ctx)
    if root is None:
        return []
    with contextlib.suppress(Exception):
        return [n for n in rendering.environments(root) if n.startswith(incomplete)]
    return []


def dependency_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Names in jsonnetfile.json and the lock that start with ``incomplete``."""
    root = _project(ctx)
    if root is None:
        return []
    with contextlib.suppress(Exception):
        return [n for n in vendoring.package_names(root) if n.startswith(incomplete)]
    return []
