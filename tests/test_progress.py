"""What ``kpb vendor`` shows while it works: plain lines off a terminal, a live display on one.

Through the real CLI and real git remotes (GitHub URLs redirected by ``url.insteadOf``).
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from kubeprom_build.cli import run, vendor_cmds
from tests.helpers.gitrepos import World, git_dep, write_jsonnetfile

LONG = "prometheus-operator-with-a-very-long-organisation-name/kube-prometheus-jsonnet-library"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def diamond(world: World, project: Path) -> dict[str, str]:
    """The project needs a and the long-named package; both need c. Returns name -> head."""
    heads = {}
    c = world.remote("org/c", {"c.libsonnet": "{}\n"})
    heads["github.com/org/c"] = c.head()
    for slug, subdir in (("org/a", "a"), (LONG, "jsonnet/kube-prometheus")):
        remote = world.remote(slug, {f"{subdir}/x.libsonnet": "{}\n"})
        remote.jsonnetfile(subdir, [git_dep(World.url("org/c"))])
        heads[f"github.com/{slug}/{subdir}"] = remote.commit({})
    deps = [git_dep(World.url("org/a"), "a"), git_dep(World.url(LONG), "jsonnet/kube-prometheus")]
    write_jsonnetfile(project, deps)
    return heads


def test_plain_output_names_each_package_when_its_fetch_starts(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = diamond(world, project)
    assert run(["-C", str(project), "vendor"]) == 0
    lines = capsys.readouterr().err.splitlines()
    fetching = [line for line in lines if line.startswith("fetching ")]
    fetched = [line for line in lines if line.startswith("fetched ")]
    assert sorted(fetching) == sorted(f"fetching {name} master" for name in heads)
    assert sorted(fetched) == sorted(f"fetched  {n} {sha[:12]}" for n, sha in heads.items())
    for name in heads:  # each starts before it ends, and is reported once
        assert lines.index(f"fetching {name} master") < lines.index(
            f"fetched  {name} {heads[name][:12]}"
        )
    assert lines[-1] == "vendor/ holds 3 packages (3 fetched, 0 already in place); lock updated"
    assert run(["-C", str(project), "vendor"]) == 0  # the no-op stays one line
    assert capsys.readouterr().err.splitlines() == [
        "vendor/ holds 3 packages (0 fetched, 3 already in place); lock unchanged"
    ]


def test_a_locked_version_is_shown_short(
    world: World, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    heads = diamond(world, project)
    assert run(["-C", str(project), "vendor"]) == 0
    (project / "vendor").rename(project / "old-vendor")
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 0
    fetching = [line for line in capsys.readouterr().err.splitlines() if "fetching" in line]
    assert sorted(fetching) == sorted(f"fetching {n} {sha[:12]}" for n, sha in heads.items())


def test_live_display_fits_80_columns(
    world: World, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an 80-column terminal every package keeps one row: long names are cut in the
    middle (host and last components stay), nothing wraps."""
    heads = diamond(world, project)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=80, no_color=True)
    monkeypatch.setattr(vendor_cmds, "stderr", console)
    assert run(["-C", str(project), "vendor"]) == 0
    text = ANSI.sub("", buffer.getvalue())
    rows = [row for row in re.split(r"[\r\n]", text) if row.strip()]
    assert rows and all(len(row) <= 80 for row in rows), [r for r in rows if len(r) > 80]
    final = rows[-(len(heads) + 2) :]  # the last frame: total + one row per package + summary
    assert final[0].startswith("all packages") and "3/3" in final[0]
    long_name = f"github.com/{LONG}/jsonnet/kube-prometheus"
    long_rows = [r for r in final if r.startswith("github.com/prome") and "…" in r]
    assert len(long_rows) == 1
    shown = long_rows[0].split(" ")[0]
    assert "…" in shown and long_name.endswith(shown.split("…")[1])
    assert f"fetched {heads[long_name][:12]}" in long_rows[0]
    for name, sha in heads.items():
        if name != long_name:
            row = next(r for r in final if r.startswith(name + " "))
            assert f"fetched {sha[:12]}" in row
    assert final[-1].startswith("vendor/ holds 3 packages")


def test_elide_keeps_both_ends() -> None:
    name = "github.com/grafana/jsonnet-libs/mixin-utils"
    assert vendor_cmds.elide(name, 80) == name
    cut = vendor_cmds.elide(name, 21)
    assert len(cut) == 21 and cut == "github.com…ixin-utils"
