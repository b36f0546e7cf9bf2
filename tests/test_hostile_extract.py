"""Hostile git trees (issue 7, classes 1 and 2): extraction and reading stay inside the package.

Each test crafts a tree object by object (``hash-object --literally``, because ``git add`` and
``mktree`` refuse most of these), serves it like a GitHub repository and runs the real
``kpb vendor``. A refusal must be one line naming the package and the path, with no traceback,
and a snapshot of the whole temp tree, a fake HOME with ``~/.ssh`` included, must not change:
vendor/ and the lock stay as they were and nothing appears anywhere else.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from kubeprom_build.cli import run
from kubeprom_build.vendoring.checksum import dir_sum
from tests.helpers.gitrepos import (
    World,
    git,
    git_dep,
    local_dep,
    snapshot,
)

KPB = [sys.executable, "-m", "kubeprom_build"]
EVIL = "github.com/org/evil"

# A tree is a list of entries: ("file"|"exec", name, bytes), ("link", name, target), or
# ("dir", name, [entries]). Names and targets may be bytes (for non-UTF-8 ones).
Name = str | bytes
Entry = tuple[str, Name, object]
MODES = {"file": b"100644", "exec": b"100755", "link": b"120000", "dir": b"40000"}


def _b(value: Name) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _object(repo: Path, kind: str, data: bytes) -> str:
    """Store a loose object exactly as ``git hash-object -w --literally`` would (no checks:
    that is the point), without a process per object."""
    raw = f"{kind} {len(data)}\0".encode() + data
    sha = hashlib.sha1(raw).hexdigest()
    path = repo / ".git" / "objects" / sha[:2] / sha[2:]
    if not path.exists():
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(zlib.compress(raw))
    return sha


def _tree(repo: Path, entries: list[Entry]) -> str:
    """A tree object holding ``entries`` in exactly this order (duplicates and all)."""
    raw = b""
    for kind, name, value in entries:
        if kind == "dir":
            assert isinstance(value, list)
            sha = _tree(repo, value)
        else:
            assert isinstance(value, (str, bytes))
            sha = _object(repo, "blob", _b(value))
        raw += MODES[kind] + b" " + _b(name) + b"\0" + bytes.fromhex(sha)
    return _object(repo, "tree", raw)


def _publish(world: World, entries: list[Entry], slug: str = "org/evil") -> None:
    """Make ``entries`` the tip of ``master`` of the GitHub-like remote ``slug``."""
    remote = world.remote(slug)
    tree = _tree(remote.path, entries)
    commit = git(remote.path, "commit-tree", tree, "-m", "hostile")
    git(remote.path, "update-ref", "refs/heads/master", commit)


@pytest.fixture
def project(vendored_project: Path) -> Path:
    """Every test here starts from a vendored project: there is state to keep."""
    return vendored_project


def _add_evil(project: Path, subdir: str = "") -> None:
    data = json.loads((project / "jsonnetfile.json").read_text())
    data["dependencies"].append(git_dep(World.url("org/evil"), subdir))
    (project / "jsonnetfile.json").write_text(json.dumps(data, indent=2) + "\n")


def _refused(
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    *expected: str,
    forbidden: Path | None = None,
) -> str:
    """Run ``kpb vendor``: it must fail with one line holding ``expected``, changing nothing
    (and, first of all, not creating ``forbidden``)."""
    _add_evil(project)
    before = snapshot(tmp_path)
    capsys.readouterr()
    code = run(["-C", str(project), "vendor"])
    err = capsys.readouterr().err
    assert forbidden is None or not os.path.lexists(forbidden), f"{forbidden} was written"
    assert code == 3, err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, err
    assert err.rstrip().endswith(errors[0]), "the error is one line, printed last"
    assert EVIL in errors[0], errors[0]
    for part in expected:
        assert part in errors[0], errors[0]
    assert snapshot(tmp_path) == before
    return errors[0]


def _chain(depth: int) -> list[Entry]:
    """``l0 -> .``, ``d1 -> l0/..``, …: each link's text stays inside, ``d<depth>`` climbs
    ``depth`` levels above the package."""
    links: list[Entry] = [("link", "l0", ".")]
    previous = "l0"
    for level in range(1, depth + 1):
        links.append(("link", f"d{level}", f"{previous}/.."))
        previous = f"d{level}"
    return links


def _through(link: str, rel: str, data: bytes, *, slash_name: bool) -> list[Entry]:
    """A member at ``link/rel``: as a directory named like the link (a crafted tree), or as one
    entry whose name holds slashes (no host's git would make it, ``git archive`` writes it)."""
    if slash_name:
        return [("file", f"{link}/{rel}", data)]
    head, *rest = rel.split("/")
    entry: Entry = ("file", rest[-1] if rest else head, data)
    for name in reversed([head, *rest][:-1] if rest else []):
        entry = ("dir", name, [entry])
    return [("dir", link, [entry])]


KEY = b"ssh-ed25519 AAAA attacker\n"

# --------------------------------------------------------------------------- link chains


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 5])
def test_link_chain_climbing_out_is_refused(
    depth: int, world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish(world, [*_chain(depth), ("file", "main.libsonnet", b"{}")])
    # The first link that climbs is refused as soon as it is met, before d2…d5 exist.
    _refused(project, tmp_path, capsys, "symlink d1 points outside the package (l0/..")


@pytest.mark.parametrize("slash_name", [False, True], ids=["dir-named-like-link", "slash-name"])
@pytest.mark.parametrize("depth", [1, 3, 5])
def test_write_through_link_chain_is_refused(
    depth: int,
    slash_name: bool,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # d5 is project/vendor: the old code wrote vendor/PWNED; shallower ones land in staging.
    entries = [*_chain(depth), *_through(f"d{depth}", "PWNED", b"x", slash_name=slash_name)]
    _publish(world, entries)
    _refused(project, tmp_path, capsys, "symlink d1 points outside the package")


@pytest.mark.parametrize("slash_name", [False, True], ids=["dir-named-like-link", "slash-name"])
def test_chain_to_home_cannot_create_authorized_keys(
    slash_name: bool,
    world: World,
    project: Path,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The package is staged at project/vendor/.kpb-tmp-*/github.com/org/evil: six levels up
    # is tmp_path, which holds home/.
    entries = _chain(6) + _through("d6", "home/.ssh/authorized_keys", KEY, slash_name=slash_name)
    _publish(world, entries)
    keys = home / ".ssh" / "authorized_keys"
    _refused(project, tmp_path, capsys, "symlink d1 points outside", forbidden=keys)


@pytest.mark.parametrize("aliases", [1, 3, 5])
def test_chain_to_filesystem_root_then_aliases_cannot_reach_home(
    aliases: int,
    world: World,
    project: Path,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``..`` at ``/`` stays at ``/``: a long enough chain reaches the root, and aliases of it
    (``a1 -> dN``, ``a2 -> a1``…) look even more harmless; then the absolute path to HOME."""
    depth = len(tmp_path.parts) + 6
    entries = [*_chain(depth), ("link", "a1", f"d{depth}")]
    entries += [("link", f"a{n}", f"a{n - 1}") for n in range(2, aliases + 1)]
    rel = "/".join([*home.parts[1:], ".ssh", "authorized_keys"])
    _publish(world, entries + _through(f"a{aliases}", rel, KEY, slash_name=False))
    keys = home / ".ssh" / "authorized_keys"
    _refused(project, tmp_path, capsys, "points outside the package", forbidden=keys)


def test_dangling_link_made_to_escape_by_a_later_link_is_refused(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``a -> z/../x`` stays inside while ``z`` is missing; ``z -> .`` (itself harmless) comes
    later and makes ``a`` climb out: only the re-check at the end sees it."""
    _publish(world, [("link", "a", "z/../x"), ("file", "x", b"{}"), ("link", "z", ".")])
    _refused(project, tmp_path, capsys, "symlink a points outside the package")


@pytest.mark.parametrize("target", ["/etc/passwd", "/", "../../../../../../../../etc"])
def test_absolute_or_climbing_link_is_refused(
    target: str, world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish(world, [("link", "evil", target)])
    _refused(project, tmp_path, capsys, f"symlink evil points outside the package ({target}")


def test_link_through_an_absolute_link_is_refused(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish(world, [("link", "a", "b/etc"), ("link", "b", "/")])
    _refused(project, tmp_path, capsys, "points outside the package")


def test_link_loop_is_refused(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish(world, [("link", "a", "b"), ("link", "b", "a")])
    _refused(project, tmp_path, capsys, "too many levels of symbolic links")


def test_link_that_would_escape_on_a_case_insensitive_file_system_is_refused(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On macOS ``Z`` is ``z``: ``a -> Z/../x`` would climb out through ``z -> .``."""
    _publish(world, [("link", "a", "Z/../x"), ("link", "z", ".")])
    _refused(project, tmp_path, capsys, "symlink a points outside the package")


def test_exact_name_wins_over_a_link_differing_in_case(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On Linux ``Sub`` is the directory, not the link ``sub -> a/b/c``: ``x`` climbs out."""
    deep: Entry = ("dir", "a", [("dir", "b", [("dir", "c", [("file", "f", b"1")])])])
    entries = [("dir", "Sub", [("file", "f", b"1")]), deep, ("link", "sub", "a/b/c")]
    _publish(world, [*entries, ("link", "x", "Sub/../../..")])
    _refused(project, tmp_path, capsys, "symlink x points outside the package")


# --------------------------------------------------------------------------- crafted names


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        ([("link", "x", "."), ("dir", "x", [("file", "f", b"1")])], "x is both a symlink and a"),
        ([("dir", "x", [("file", "f", b"1")]), ("link", "x", ".")], "x is both a directory and"),
        ([("file", "x", b"1"), ("file", "x", b"2")], "x appears twice in the tree"),
        ([("dir", "x", [("file", "f", b"1")]), ("dir", "x", [("file", "g", b"2")])], "x appears"),
        ([("file", "x", b"1"), ("dir", "x", [("file", "f", b"1")])], "x is both a file and a"),
        ([("file", "x", b"1"), ("file", "x/f", b"2")], "x/f would be written through the file"),
        ([("link", "x", "sub"), ("dir", "sub", []), ("file", "x/f", b"2")], "through the symlink"),
    ],
    ids=[
        "link-then-dir",
        "dir-then-link",
        "duplicate-file",
        "duplicate-dir",
        "file-then-dir",
        "file-as-parent",
        "internal-link-as-parent",
    ],
)
def test_same_name_twice_is_refused(
    entries: list[Entry],
    expected: str,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _publish(world, entries)
    _refused(project, tmp_path, capsys, expected)


GIT_CONFIG = b"[core]\n\tfsmonitor = touch /tmp/kpb-pwned-fsmonitor\n"


@pytest.mark.parametrize(
    ("entries", "shown"),
    [
        ([("dir", ".git", [("file", "config", GIT_CONFIG)])], ".git"),
        ([("dir", "sub", [("dir", ".GIT", [("file", "config", GIT_CONFIG)])])], "sub/.GIT"),
        ([("dir", "sub", [("file", ".git", b"gitdir: /etc\n")])], "sub/.git"),
        ([("link", ".git", "sub")], ".git"),
    ],
    ids=["dot-git-config", "upper-case-nested", "gitdir-file", "link"],
)
def test_dot_git_entries_are_refused(
    entries: list[Entry],
    shown: str,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _publish(world, [("file", "a.libsonnet", b"{}"), *entries])
    # git archive itself refuses these paths (invalid path); kpb's own check stays as a
    # second line for trees from other tools.
    _refused(project, tmp_path, capsys, shown)


@pytest.mark.parametrize("kind", ["file", "dir"])
def test_name_of_300_bytes_is_refused(
    kind: str, world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    name = "n" * 300
    entry: Entry = ("file", name, b"1") if kind == "file" else ("dir", name, [("file", "f", b"1")])
    _publish(world, [entry])
    _refused(project, tmp_path, capsys, name, "longer than 255 bytes")


def test_path_deeper_than_path_max_is_refused(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path the kernel's PATH_MAX would stop; writing by fds has no such limit, so kpb sets it."""
    entries: list[Entry] = [("file", "f", b"1")]
    for _ in range(420):  # 420 * len("component/") > 4000 bytes
        entries = [("dir", "component", entries)]
    _publish(world, entries)
    _refused(project, tmp_path, capsys, "component/component/", "longer than 4000 bytes")


@pytest.mark.parametrize(
    ("entries", "shown"),
    [
        ([("file", b"bad\xff.libsonnet", b"{}")], r"'bad\udcff.libsonnet'"),
        ([("dir", b"d\xc3", [("file", "f", b"1")])], r"'d\udcc3'"),
        ([("link", "l", b"t\xfe")], r"symlink l has an unusable target 't\udcfe'"),
        ([("file", "new\nline", b"1")], r"'new\nline'"),
        ([("file", "esc\x1b[31m", b"1")], r"'esc\x1b[31m'"),
        ([("file", "csi\x9b31m", b"1")], r"'csi\x9b31m'"),
    ],
    ids=["file", "dir", "link-target", "newline", "terminal-escape", "c1-control"],
)
def test_non_utf8_and_control_character_names_are_refused(
    entries: list[Entry],
    shown: str,
    world: World,
    project: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _publish(world, entries)
    _refused(project, tmp_path, capsys, shown)


@pytest.mark.parametrize("name", ["..", "."])
def test_dot_components_are_refused(
    name: str, world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _publish(world, [("dir", name, [("file", "PWNED", b"x")])])
    _refused(project, tmp_path, capsys, f"{name}/PWNED")


def test_subdir_that_is_a_symlink_is_one_line(
    world: World, project: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``<commit>:lnk`` names a blob, not a tree: one line naming the subdir and package."""
    _publish(world, [("link", "lnk", "real"), ("dir", "real", [("file", "f", b"1")])])
    data = json.loads((project / "jsonnetfile.json").read_text())
    data["dependencies"].append(git_dep(World.url("org/evil"), "lnk"))
    (project / "jsonnetfile.json").write_text(json.dumps(data, indent=2) + "\n")
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert run(["-C", str(project), "vendor"]) == 3
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "subdir 'lnk' does not exist in https://github.com/org/evil.git" in err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- what stays allowed


def test_internal_links_and_dangling_links_are_kept(world: World, project: Path) -> None:
    """kube-prometheus-like: links to an internal dir and file, a relative one climbing back
    into the package, a chain that stays inside, and a dangling link (jb keeps those too)."""
    _publish(
        world,
        [
            ("link", "a-lib", "sub"),
            ("link", "b-file", "sub/x.libsonnet"),
            ("link", "dangling", "missing/thing.libsonnet"),
            ("link", "l0", "."),
            ("link", "l1", "l0/sub/../sub"),
            ("dir", "sub", [("link", "up", "../b-file"), ("exec", "x.libsonnet", b"{x: 1}\n")]),
        ],
    )
    _add_evil(project)
    assert run(["-C", str(project), "vendor"]) == 0
    pkg = project / "vendor" / EVIL
    links = {
        "a-lib": "sub",
        "b-file": "sub/x.libsonnet",
        "dangling": "missing/thing.libsonnet",
        "l1": "l0/sub/../sub",
        "sub/up": "../b-file",
    }
    for link, target in links.items():
        assert os.readlink(pkg / link) == target
    assert (pkg / "l1" / "up").read_bytes() == b"{x: 1}\n"
    assert oct((pkg / "sub" / "x.libsonnet").stat().st_mode & 0o777) == "0o755"
    assert run(["-C", str(project), "vendor", "--verify"]) == 0


def test_nested_jsonnetfile_that_is_an_internal_link_is_read(world: World, project: Path) -> None:
    """jb reads a package's jsonnetfile.json with os.ReadFile, which follows links."""
    world.remote("org/lib", {"l.libsonnet": "{}\n"})
    manifest = {"version": 1, "dependencies": [git_dep(World.url("org/lib"))]}
    _publish(
        world,
        [
            ("dir", "real", [("file", "jf.json", json.dumps(manifest).encode())]),
            ("link", "jsonnetfile.json", "real/jf.json"),
        ],
    )
    _add_evil(project)
    assert run(["-C", str(project), "vendor"]) == 0
    assert (project / "vendor" / "github.com/org/lib/l.libsonnet").is_file()


# --------------------------------------------------------------------------- reading packages


@pytest.fixture
def local_pkg(project: Path) -> Path:
    """A local package in the project, as kube-prometheus's own jsonnet/ folder is."""
    path = project / "jsonnet" / "lib"
    path.mkdir(parents=True)
    (path / "main.libsonnet").write_text("{}\n")
    data = json.loads((project / "jsonnetfile.json").read_text())
    data["dependencies"].append(local_dep("jsonnet/lib"))
    (project / "jsonnetfile.json").write_text(json.dumps(data, indent=2) + "\n")
    return path


def _fails_in_time(
    project: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run kpb in a subprocess: a FIFO opened for reading would block it forever."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run(
        [*KPB, "-C", str(project), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def _one_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1, stderr
    assert stderr.rstrip().endswith(errors[0]), "the error is one line, printed last"
    return errors[0]


def test_nested_jsonnetfile_linking_outside_is_refused(
    project: Path, local_pkg: Path, home: Path, tmp_path: Path
) -> None:
    secret = home / "secret.json"
    secret.write_text('{"version": 1, "dependencies": []}\n')
    (local_pkg / "jsonnetfile.json").symlink_to(os.path.relpath(secret, local_pkg))
    before = snapshot(tmp_path)
    proc = _fails_in_time(project, "vendor")
    assert proc.returncode == 3, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "lib/jsonnetfile.json: a symlink leads outside the package" in _one_error(proc.stderr)
    assert snapshot(tmp_path) == before


def test_nested_jsonnetfile_that_is_a_fifo_is_reported_not_opened(
    project: Path, local_pkg: Path, tmp_path: Path
) -> None:
    os.mkfifo(local_pkg / "jsonnetfile.json")
    before = snapshot(tmp_path)
    proc = _fails_in_time(project, "vendor")
    assert proc.returncode == 3, proc.stderr
    assert "lib/jsonnetfile.json: not a regular file (FIFO)" in _one_error(proc.stderr)
    assert snapshot(tmp_path) == before


def test_fifo_in_vendor_is_reported_by_verify_and_replaced_by_vendor(project: Path) -> None:
    pkg = project / "vendor" / "github.com/org/good"
    os.mkfifo(pkg / "a-fifo")
    lock = (project / "jsonnetfile.lock.json").read_bytes()
    proc = _fails_in_time(project, "vendor", "--verify")
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert (
        "github.com/org/good: modified (special file: a-fifo (fifo))" in proc.stdout + proc.stderr
    )
    assert os.path.exists(pkg / "a-fifo")  # verify changes nothing
    proc = _fails_in_time(project, "vendor")
    assert proc.returncode == 0, proc.stderr
    assert not os.path.lexists(pkg / "a-fifo")
    assert (project / "jsonnetfile.lock.json").read_bytes() == lock


def test_link_out_of_vendored_package_is_never_read(project: Path, home: Path) -> None:
    """A link added to vendor/ by hand: sums stop at it, verify shows its text, not the file."""
    pkg = project / "vendor" / "github.com/org/good"
    os.mkfifo(home / "pipe")  # reading through the link would block
    (pkg / "a-link").symlink_to(home / "pipe")
    (pkg / "b-link").symlink_to(os.path.relpath(home / "pipe", pkg))
    assert dir_sum(pkg) == "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="  # stops at a-link
    proc = _fails_in_time(project, "vendor", "--verify")
    assert proc.returncode == 1, proc.stderr
    assert "added: a-link, b-link" in proc.stdout + proc.stderr
