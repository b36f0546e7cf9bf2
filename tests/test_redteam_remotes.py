"""Red-team finding on dependency remotes (issue 7, class 4): percent-escapes through a mirror.

jb's ssh patterns take any text as USER, so a dependency may name
``git@github.com:%2e%2e/%2e%2e/private.git``; kpb rewrites it to the canonical
``ssh://git@github.com/%2e%2e/%2e%2e/private.git``, a network remote. But with a user's
``url.<file mirror>.insteadOf`` for ``ssh://git@github.com/`` or ``git@github.com:`` (the
mirror setup docs/security.md promises keeps working), git turns it into a ``file://`` URL and
decodes the escapes: ``%2e%2e`` climbs out of the mirror and any local repository the user can
read is vendored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import refusal
from tests.helpers.gitrepos import (
    World,
    git_dep,
    insteadof_config,
    make_remote,
    snapshot,
    write_jsonnetfile,
)


@pytest.mark.parametrize(
    "remote",
    [
        "git@github.com:%2e%2e/%2e%2e/private.git",
        "ssh://git@github.com/%2e%2e%2f%2e%2e/private.git",  # USER is one component here
        "ssh://git@github.com/%2E%2E%2F%2e%2E/private.git",
        "git@github.com:org/%2e%2e%2f%2e%2e%2fprivate.git",
    ],
)
def test_percent_escapes_cannot_leave_a_file_mirror(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    remote: str,
) -> None:
    mirror = tmp_path / "mirror"
    world = World(mirror)
    mirror.mkdir()
    base = f"file://{mirror}/github.com/"
    config = insteadof_config(tmp_path, {"https://github.com/": base})
    config.write_text(
        config.read_text()
        + f'[url "{base}"]\n\tinsteadOf = ssh://git@github.com/\n\tinsteadOf = git@github.com:\n'
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    # A private repository beside the mirror: ../../private.git from mirror/github.com/<x>/.
    make_remote(tmp_path, "private.git", {"secret.txt": "PRIVATE\n"})
    body = {"version": 1, "dependencies": [git_dep(remote)]}
    world.remote("org/outer", {"jsonnetfile.json": json.dumps(body)})
    project = tmp_path / "project"
    project.mkdir()
    write_jsonnetfile(project, [git_dep(World.url("org/outer"))])
    before = _state(project, home)
    line = refusal(["-C", str(project), "vendor"], capsys)
    assert "org/outer/jsonnetfile.json" in line and "remote" in line, line
    assert not list(project.rglob("secret.txt"))
    assert _state(project, home) == before


def _state(project: Path, home: Path) -> dict[str, bytes | str]:
    """Everything but kpb's own ``.kpb/`` (created by the run: locks, an ignore file)."""
    kpb = str(project / ".kpb")
    return {k: v for k, v in snapshot(project, home).items() if not k.startswith(kpb)}
