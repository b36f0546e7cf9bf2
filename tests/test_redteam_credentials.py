"""Red-team finding: a token in a remote's URL (``https://user:TOKEN@host/...``) was printed.

kpb's git debug lines and mirror messages drop a URL's ``user:token@``, but the messages about a
remote kpb cannot use quoted the remote as written: ``cannot parse git remote
'https://ci:TOKEN@git.internal/org/repo.git'`` (a host without a dot, a port), the same for
a remote naming too few path components, and ``cannot list refs of ftps://ci:TOKEN@…`` for a
scheme kpb keeps verbatim. CI logs are shared; the token must not reach them, with ``-v`` or
``--json`` either.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from tests.helpers.gitrepos import git_dep, snapshot, write_jsonnetfile

TOKEN = "glpat-Xq7RedTeamToken42"


@pytest.mark.parametrize(
    "remote",
    [
        f"https://ci:{TOKEN}@gitlab/org/repo.git",  # no dot in the host: jb cannot parse it
        f"https://ci:{TOKEN}@git.internal:8443/org/repo.git",  # a port
        f"https://{TOKEN}@localhost/org/repo.git",
        f"ssh://git:{TOKEN}@localhost/org/repo.git",
        f"ftps://ci:{TOKEN}@git.example.com/org/repo.git",  # kept verbatim, git refuses it
        f"ftps://ci:{TOKEN}@git.example.com/repo.git",  # too few components to name it
    ],
)
@pytest.mark.parametrize("flags", [["-v"], ["--json"], ["-q"]])
def test_a_token_in_a_remote_url_is_never_printed(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    remote: str,
    flags: list[str],
) -> None:
    monkeypatch.setenv("KPB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "no-gitconfig"))
    project = tmp_path / "project"
    project.mkdir()
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    write_jsonnetfile(project, [git_dep(remote)])
    before = snapshot(project)
    capsys.readouterr()
    code = run(["-C", str(project), *flags, "vendor"])
    out, err = capsys.readouterr()
    assert code != 0
    assert TOKEN not in out + err, out + err
    assert "Traceback" not in err
    if "--json" in flags:
        assert TOKEN not in json.dumps(json.loads(out))  # also not JSON-escaped
    after = {path: kind for path, kind in snapshot(project).items() if "/.kpb" not in path}
    assert after == before  # .kpb/ holds the lock taken before git ran
