"""Network failures through the real ``kpb`` command: stalled remotes, refused connections,
``--offline`` misses.

A stalled remote is a TCP listener in a test thread that accepts connections and never sends a
byte; git reaches it as ``git://`` (git's own protocol) or ``http://`` through a
``url.<base>.insteadOf`` mapping, the way a user's mirror is configured. The CLI runs in a
subprocess so that code without a stall timeout fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprom_build.errors import ConfigError, GitError
from kubeprom_build.vendoring import git
from kubeprom_build.vendoring.cache import GitCache
from tests.helpers.gitrepos import World, git_dep, github_world, write_jsonnetfile

SHA = "0123456789abcdef0123456789abcdef01234567"


class SilentServer:
    """Accepts every connection on 127.0.0.1 and never answers (a black-holed remote)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._open.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self._open:
            conn.close()


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    server = SilentServer()
    yield server
    server.close()


def kpb(project: Path, *args: str, config: Path | None = None, **env: str) -> tuple[int, str]:
    """Run the real CLI in a subprocess; returns (exit code, stderr)."""
    environ = dict(os.environ, **env)
    if config is not None:
        environ["GIT_CONFIG_GLOBAL"] = str(config)
    proc = subprocess.run(
        [sys.executable, "-m", "kubeprom_build", "-C", str(project), *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=90,
        check=False,
    )
    return proc.returncode, proc.stderr


def mirror_config(tmp_path: Path, base: str, *, http: bool = False) -> Path:
    """A user's git config sending https://github.com/ to ``base`` (http needs allowing)."""
    path = tmp_path / "gitconfig-mirror"
    text = f'[url "{base}"]\n\tinsteadOf = https://github.com/\n'
    if http:
        text += '[protocol "http"]\n\tallow = always\n'
    path.write_text(text)
    return path


@pytest.mark.parametrize("scheme", ["git", "http"])
@pytest.mark.parametrize("version", ["master", SHA])
def test_a_remote_that_never_answers_fails_naming_it(
    tmp_path: Path, project: Path, silent: SilentServer, scheme: str, version: str
) -> None:
    """ls-remote (a branch) and fetch (a locked sha) both give up after --timeout seconds."""
    config = mirror_config(tmp_path, f"{scheme}://127.0.0.1:{silent.port}/", http=scheme == "http")
    write_jsonnetfile(project, [git_dep("https://github.com/org/lib.git", version=version)])
    before = (project / "jsonnetfile.json").read_bytes()
    start = time.monotonic()
    code, err = kpb(project, "vendor", "--timeout", "2", config=config)
    elapsed = time.monotonic() - start
    assert code != 0
    assert elapsed < 20, f"took {elapsed:.1f} s"
    assert silent.accepted >= 1  # git really connected and waited
    *progress, last = err.strip().splitlines()
    assert all(line.startswith("fetching github.com/org/lib ") for line in progress), err
    assert last == (
        f"error: no data from https://github.com/org/lib.git (via {scheme}://127.0.0.1:"
        f"{silent.port}/org/lib.git) for 2 s; try again, use --offline with a warm cache, "
        "or a url.<mirror>.insteadOf mirror"
    )
    assert (project / "jsonnetfile.json").read_bytes() == before
    assert not (project / "vendor").exists()
    assert not (project / "jsonnetfile.lock.json").exists()


def test_a_token_in_the_mirror_url_is_not_shown(
    tmp_path: Path, project: Path, silent: SilentServer
) -> None:
    config = mirror_config(tmp_path, f"http://kpb:s3cret-token@127.0.0.1:{silent.port}/", http=True)
    write_jsonnetfile(project, [git_dep("https://github.com/org/lib.git", version=SHA)])
    code, err = kpb(project, "vendor", "--timeout", "1", config=config)
    assert code != 0
    assert "s3cret" not in err
    assert f"(via http://127.0.0.1:{silent.port}/org/lib.git) for 1 s" in err


def test_kpb_timeout_environment_variable(
    tmp_path: Path, project: Path, silent: SilentServer
) -> None:
    config = mirror_config(tmp_path, f"git://127.0.0.1:{silent.port}/")
    write_jsonnetfile(project, [git_dep("https://github.com/org/lib.git")])
    start = time.monotonic()
    code, err = kpb(project, "install", config=config, KPB_TIMEOUT="1.5")
    assert code != 0 and time.monotonic() - start < 20
    assert "no data from https://github.com/org/lib.git" in err and "for 1.5 s" in err
    code, err = kpb(project, "vendor", config=config, KPB_TIMEOUT="soon")
    assert code != 0
    assert err.strip() == (
        "error: $KPB_TIMEOUT='soon': the timeout must be a positive number of seconds"
    )
    code, err = kpb(project, "update", "--timeout", "0", config=config)
    assert code != 0 and "--timeout 0: the timeout must be a positive number" in err


def test_a_healthy_transfer_with_a_short_timeout_works(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world: World = github_world(tmp_path, monkeypatch)
    lib = world.remote("org/lib", {"sub/a.libsonnet": "1\n", "big/blob.bin": os.urandom(1 << 20)})
    write_jsonnetfile(project, [git_dep(World.url("org/lib"), "sub")])
    code, err = kpb(project, "vendor", "--timeout", "2", config=world.config())
    assert code == 0, err
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    assert lock["dependencies"][0]["version"] == lib.head()
    assert (project / "vendor/github.com/org/lib/sub/a.libsonnet").read_text() == "1\n"


def test_a_refused_connection_says_what_to_try(tmp_path: Path, project: Path) -> None:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now
    config = mirror_config(tmp_path, f"git://127.0.0.1:{port}/")
    write_jsonnetfile(project, [git_dep("https://github.com/org/lib.git")])
    code, err = kpb(project, "vendor", config=config)
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: cannot list refs of https://github.com/org/lib.git: ")
    assert lines[0].endswith(
        "; try again, use --offline with a warm cache, or a url.<mirror>.insteadOf mirror"
    )


def test_a_missing_version_gets_no_network_hint(
    tmp_path: Path, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = github_world(tmp_path, monkeypatch)
    world.remote("org/lib", {"a.libsonnet": "1"})
    write_jsonnetfile(project, [git_dep(World.url("org/lib"), version=SHA)])
    code, err = kpb(project, "vendor", config=world.config())
    assert code != 0
    assert "does not exist" in err and "--offline" not in err


# ------------------------------------------------------------------ the watchdog itself


def test_watchdog_spares_slow_output_and_kills_the_silent_group(tmp_path: Path) -> None:
    """Output every 0.4 s keeps a 1 s watchdog fed for 2 s; 3 s of silence ends the whole
    process group (the shell's child never gets to write its file)."""
    slow = "!for i in 1 2 3 4 5; do echo tick; sleep 0.4; done"
    result = git.run(["-c", f"alias.slow={slow}", "slow"], cwd=tmp_path, what="slow", timeout=1)
    assert result.stdout.decode().split() == ["tick"] * 5
    marker = tmp_path / "survived"
    silent = f"!sleep 3; touch {marker}"
    start = time.monotonic()
    with pytest.raises(GitError) as caught:
        git.run(["-c", f"alias.quiet={silent}", "quiet"], cwd=tmp_path, what="quiet", timeout=1)
    assert time.monotonic() - start < 2.5
    assert str(caught.value).startswith("quiet: git -c gave no output for 1 s")
    time.sleep(3)
    assert not marker.exists()


def test_timeout_values_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KPB_TIMEOUT", raising=False)
    assert git.default_timeout() == 60
    monkeypatch.setenv("KPB_TIMEOUT", "2.5")
    assert git.default_timeout() == 2.5
    for bad in ("0", "-1", "inf", "nan", "x"):
        monkeypatch.setenv("KPB_TIMEOUT", bad)
        with pytest.raises(ConfigError, match="KPB_TIMEOUT"):
            git.default_timeout()


# ------------------------------------------------------------------ --offline


def test_offline_lists_every_missing_package_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a is cached (its own dependency d is not); b and c were never fetched. Resolution goes
    on from the cache as far as it can, then one line names all three misses."""
    world = github_world(tmp_path, monkeypatch)
    a = world.remote("org/a", {"a.libsonnet": "1"})
    a.jsonnetfile("", [git_dep(World.url("org/d"))])
    a.commit({})
    heads = {slug: world.remote(f"org/{slug}", {"x.libsonnet": "1"}).head() for slug in "bcd"}
    warm = tmp_path / "warm"
    warm.mkdir()
    write_jsonnetfile(warm, [git_dep(World.url("org/a"), version=a.head(), single=True)])
    assert kpb(warm, "vendor", config=world.config())[0] == 0  # caches a, not d
    project = tmp_path / "project"
    project.mkdir()
    deps = [git_dep(World.url("org/a"), version=a.head())]
    deps += [git_dep(World.url(f"org/{slug}"), version=heads[slug]) for slug in "bc"]
    write_jsonnetfile(project, deps)
    config = tmp_path / "gitconfig"
    config.write_text(world.config().read_text())
    world.root.rename(tmp_path / "gone")  # offline must not need the remotes at all
    before = (project / "jsonnetfile.json").read_bytes()
    code, err = kpb(project, "vendor", "--offline", config=config)
    assert code != 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: 3 packages are not in the cache (")
    assert last.endswith(
        "): github.com/org/b, github.com/org/c, github.com/org/d; run without --offline"
    )
    assert (project / "jsonnetfile.json").read_bytes() == before
    assert not (project / "vendor").exists()
    assert not (project / "jsonnetfile.lock.json").exists()


# ------------------------------------------------------------------ prefetching


def test_dependencies_with_a_known_version_are_prefetched_while_siblings_still_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, silent: SilentServer
) -> None:
    """The project needs p and s; s's remote never answers. While s stalls, p arrives and its
    jsonnetfile names c (a commit sha), d (a branch the lock pins) and e (a branch nobody
    pinned): c and d are warmed in the cache at once, e is not (its version is not certain
    yet). Without prefetching, nothing below p is fetched before s's batch completes."""
    world = github_world(tmp_path, monkeypatch)
    heads = {slug: world.remote(f"org/{slug}", {"x.libsonnet": "1"}).head() for slug in "cde"}
    p = world.remote("org/p", {"p.libsonnet": "1"})
    p.jsonnetfile(
        "",
        [
            git_dep(World.url("org/c"), version=heads["c"]),
            git_dep(World.url("org/d")),
            git_dep(World.url("org/e")),
        ],
    )
    p.commit({})
    config = tmp_path / "gitconfig"
    config.write_text(
        world.config().read_text()
        + f'[url "git://127.0.0.1:{silent.port}/stalled/"]\n\tinsteadOf = https://stall.example/\n'
    )
    project = tmp_path / "project"
    project.mkdir()
    stalled = "https://stall.example/org/s.git"
    write_jsonnetfile(
        project,
        [git_dep(World.url("org/p"), version=p.head()), git_dep(stalled, version=SHA)],
    )
    write_jsonnetfile(project, [git_dep(World.url("org/d"), version=heads["d"])], lock=True)
    code, err = kpb(project, "vendor", "--timeout", "3", config=config)
    assert code != 0 and "no data from https://stall.example/org/s.git" in err
    cache = GitCache(root=Path(os.environ["KPB_CACHE"]), offline=True)
    assert cache.has(World.url("org/p"), p.head())
    assert cache.has(World.url("org/c"), heads["c"])
    assert cache.has(World.url("org/d"), heads["d"])
    assert not cache.repo_path(World.url("org/e")).exists()
    # the warmed entries are complete (commit and blobs): the real run needs no remote for them
    for slug in "cd":
        (world.root / "github.com/org" / f"{slug}.git").rename(tmp_path / f"gone-{slug}")
    write_jsonnetfile(project, [git_dep(World.url("org/p"), version=p.head())])
    code, err = kpb(project, "vendor", config=config)
    assert code == 0, err
    lock = json.loads((project / "jsonnetfile.lock.json").read_text())
    versions = {d["source"]["git"]["remote"]: d["version"] for d in lock["dependencies"]}
    assert versions == {
        World.url("org/p"): p.head(),
        **{World.url(f"org/{slug}"): heads[slug] for slug in "cde"},
    }
