"""The only module that runs git: thin wrappers with a cleaned, non-interactive environment.

Every value that reaches git here may come from a hostile jsonnetfile (a transitive one, even),
so remotes and refs are validated before use, refs travel only after ``--`` or inside explicit
refspecs, dangerous transports are disabled, hooks and templates are switched off and git can
never prompt. The user's own global config (credentials, ``url.<base>.insteadOf``, proxies)
still applies, which is how mirrors and private remotes keep working. Before the first git
command of a process, the git on PATH must prove it has the 2025 security fixes
(:func:`_require_fixed_git`).

Every git process runs in its own process group under a stall watchdog (:class:`_Watch`): when
no byte arrives on its stdout or stderr for ``--timeout`` seconds (``$KPB_TIMEOUT``, default 60)
the whole group is killed and the run fails naming the remote. Fetches ask git for
``--progress`` so a slow but alive transfer keeps the watchdog fed; HTTP transfers also get
git's own ``http.lowSpeedLimit``/``lowSpeedTime`` with the same limit.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import io
import logging
import math
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kubeprom_build.errors import ConfigError, GitError
from kubeprom_build.vendoring import extract, uri

log = logging.getLogger("kpb")

SHA_RE = re.compile(r"\A[0-9a-f]{40}([0-9a-f]{24})?\Z")  # \Z: "$" matches before a final newline
_SAFE_ENV = re.compile(
    r"^GIT_(SSH|SSH_COMMAND|SSH_VARIANT|SSL_CAINFO|SSL_CAPATH|SSL_NO_VERIFY|ASKPASS"
    r"|HTTP_PROXY_AUTHMETHOD|PROXY_COMMAND|CONFIG_GLOBAL|CONFIG_NOSYSTEM|CONFIG_SYSTEM"
    r"|CONFIG_COUNT|CONFIG_KEY_\d+|CONFIG_VALUE_\d+|TRACE\w*|CURL_VERBOSE|EXEC_PATH"
    r"|(AUTHOR|COMMITTER)_(NAME|EMAIL|DATE))\Z"
)
_ALLOWED_PROTOCOLS = ("file", "https", "ssh", "git")
_EMPTY_TEMPLATE = Path(os.devnull)
# Never fetch from a server-advertised bundle URI, never touch submodules, never start an
# fsmonitor daemon: kpb needs none of them, and each is a way for a remote to reach further.
_HARDENING = (
    "transfer.bundleURI=false",
    "submodule.recurse=false",
    "fetch.recurseSubmodules=false",
    "core.fsmonitor=false",
)

#: The first release of each series with both 2025 fix sets: CVE-2024-50349/CVE-2024-52006
#: (January 2025) and CVE-2025-48384/48385/48386 (July 2025). 2.40-2.42 never got the July
#: fixes upstream; 2.51.0 and later have both.
_FIXED_RELEASES = {
    (2, 43): 7,
    (2, 44): 4,
    (2, 45): 4,
    (2, 46): 4,
    (2, 47): 3,
    (2, 48): 2,
    (2, 49): 1,
    (2, 50): 1,
}
_FIRST_FIXED_SERIES = (2, 51, 0)
#: Distribution builds of an older upstream version that carry both fix sets as backports:
#: upstream version -> the first Debian package version with them (Debian 12's changelog:
#: deb12u2 fixed CVE-2024-50349/52006, deb12u3 CVE-2025-48384/48385; 48386 is Windows-only).
_DEBIAN_BACKPORTS = {"2.39.5": "1:2.39.5-0+deb12u3"}
ALLOW_VERSION_ENV = "KPB_ALLOW_GIT_VERSION"
_PACKAGED_GIT = "/usr/bin/git"
_VERSION_RE = re.compile(r"git version (\d+)\.(\d+)\.(\d+)\S*")

_DEFAULT_TIMEOUT = 60.0
_TIMEOUT_ENV = "KPB_TIMEOUT"
#: Appended to every network failure: what a user behind a broken or slow network can do.
_NETWORK_HINT = "try again, use --offline with a warm cache, or a url.<mirror>.insteadOf mirror"
# git's and curl's words for "the network failed" (not "the ref does not exist").
_NETWORK_FAILURE = re.compile(
    r"could not resolve|unable to access|connection (refused|reset|timed out|closed)"
    r"|could not read from remote|failed to connect|unable to connect|network is unreachable"
    r"|no route to host|hung up unexpectedly|early eof|timed out|ssl|tls|proxy"
    r"|gnutls|rpc failed|operation too slow",
    re.IGNORECASE,
)
_TOO_SLOW = re.compile(r"operation too slow|low speed", re.IGNORECASE)
#: How much of git's stderr is kept: its last lines say why it failed.
_STDERR_KEPT = 256 * 1024
#: ``text`` with the ``user:token@`` of every URL in it dropped: logs and messages may be shared.
without_userinfo = uri.without_userinfo


def _require_fixed_git() -> None:
    """Refuse to run a git without the 2025 security fixes (checked once per git and setting).

    Accepted: an upstream release at or above the fixed release of its series; a Debian
    package whose own metadata proves the backport (:func:`_debian_backport`); or exactly the
    version named by ``$KPB_ALLOW_GIT_VERSION``, the documented way to vouch for another
    patched build. Called lazily from :func:`_base_config`, so runs that need no git (a no-op
    ``kpb vendor``) never pay for it.
    """
    _check_git(shutil.which("git"), os.environ.get(ALLOW_VERSION_ENV, ""))


@functools.lru_cache(maxsize=8)
def _check_git(executable: str | None, allowed: str) -> None:
    """Raises GitError when refused; only successes are cached (lru_cache skips exceptions)."""
    if executable is None:
        raise GitError("git is not installed: no 'git' on PATH (kpb needs git 2.43.7 or newer)")
    try:
        proc = subprocess.run(
            [executable, "--version"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
            env={**os.environ, "LC_ALL": "C"},
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        raise GitError(f"cannot run {executable} --version: {err}") from None
    text = proc.stdout.decode("utf-8", "replace").strip()
    found = _VERSION_RE.fullmatch(text.split(" (")[0])
    if proc.returncode != 0 or found is None:
        raise GitError(f"{executable} --version printed {text[:80]!r}, not 'git version X.Y.Z'")
    version = (int(found[1]), int(found[2]), int(found[3]))
    shown = found[0].split()[2]  # as git prints it: 2.39.5, 1.8.3.1, 2.50.1.windows.1
    if _upstream_fixed(version) or (allowed and allowed == shown):
        return
    if _debian_backport(executable, shown):
        return
    raise GitError(
        f"git {shown} ({executable}) lacks the 2025 security fixes (CVE-2024-50349, "
        "CVE-2024-52006, CVE-2025-48384, CVE-2025-48385); kpb needs git 2.43.7 or newer "
        "(in later series at least 2.44.4, 2.45.4, 2.46.4, 2.47.3, 2.48.2, 2.49.1, 2.50.1); "
        f"if your distribution backported the fixes, set {ALLOW_VERSION_ENV}={shown}"
    )


def _upstream_fixed(version: tuple[int, int, int]) -> bool:
    if version >= _FIRST_FIXED_SERIES:
        return True
    first = _FIXED_RELEASES.get(version[:2])
    return first is not None and version[2] >= first


def _debian_backport(executable: str, version: str) -> bool:
    """True when dpkg's own records prove this git is a patched Debian build.

    All of: the executable is the packaged ``/usr/bin/git`` with the md5 dpkg recorded for
    it, the installed ``git`` package is of this upstream version, and ``dpkg
    --compare-versions`` puts it at or above the first revision with the backports.
    """
    wanted = _DEBIAN_BACKPORTS.get(version)
    if wanted is None or os.path.realpath(executable) != _PACKAGED_GIT:
        return False
    try:
        installed = subprocess.run(
            ["dpkg-query", "-W", "-f=${Version}", "git"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=30,
        ).stdout.decode()
        if installed.split(":", 1)[-1].rsplit("-", 1)[0] != version:
            return False
        newer = subprocess.run(
            ["dpkg", "--compare-versions", installed, "ge", wanted],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            check=False,
            timeout=30,
        )
        sums = Path("/var/lib/dpkg/info/git.md5sums").read_text()
        with open(_PACKAGED_GIT, "rb") as handle:
            actual = hashlib.md5(handle.read(), usedforsecurity=False).hexdigest()
    except (OSError, subprocess.TimeoutExpired):
        return False
    return newer.returncode == 0 and f"{actual}  usr/bin/git" in sums.splitlines()


def _base_config(*, offline: bool = False) -> list[str]:
    """``-c`` options for every git call: no ext::, no hooks, no auto-gc, no prompts, no
    bundle URIs, no submodules.

    Every git command line is built here, so this is also where the version gate
    (:func:`_require_fixed_git`) runs before the first one. Offline, every transport is
    forbidden, so even a lazy partial-clone fetch cannot reach out.
    """
    _require_fixed_git()
    opts = ["protocol.allow=never", "core.hooksPath=/dev/null", "gc.auto=0"]
    opts += ["maintenance.auto=false", "advice.detachedHead=false", "protocol.ext.allow=never"]
    opts += _HARDENING
    if not offline:
        opts += [f"protocol.{name}.allow=always" for name in _ALLOWED_PROTOCOLS]
    args: list[str] = []
    for opt in opts:
        args += ["-c", opt]
    return args


def clean_env() -> dict[str, str]:
    """The caller's environment minus every GIT_* variable that could redirect or inject.

    GIT_DIR, GIT_WORK_TREE, GIT_CONFIG_PARAMETERS, GIT_ALLOW_PROTOCOL and friends would let
    the surroundings (a hook, an IDE) point our commands at another repository or re-enable
    transports; credentials, ssh and proxy settings are kept.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or _SAFE_ENV.match(k)}
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_PROTOCOL_FROM_USER"] = "0"
    env["GIT_CEILING_DIRECTORIES"] = os.path.dirname(_nowhere())  # never search upwards
    env["LC_ALL"] = "C"
    if "GIT_SSH_COMMAND" not in env and "GIT_SSH" not in env and not _user_ssh_command():
        env["GIT_SSH_COMMAND"] = "ssh -o BatchMode=yes"  # ssh must not prompt either
    return env


@functools.lru_cache(maxsize=1)
def _nowhere() -> str:
    """An empty private directory to run git in when no repository is meant (ls-remote).

    git discovers a repository from its working directory and obeys that repository's config
    (an ``uploadpack`` program, ``insteadOf``). The caller's cwd may be a project that commits
    a folder shaped like a bare repository, or a vendored package, so git never runs there.
    """
    path = tempfile.mkdtemp(prefix="kpb-git-")
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.lru_cache(maxsize=1)
def _user_ssh_command() -> bool:
    """True when the user's git config sets core.sshCommand (then it is left alone)."""
    proc = subprocess.run(
        ["git", *_base_config(offline=True), "config", "--get", "core.sshCommand"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        check=False,
        env={k: v for k, v in os.environ.items() if k not in ("GIT_DIR", "GIT_CONFIG_PARAMETERS")},
        cwd=_nowhere(),
    )
    return bool(proc.stdout.strip())


def default_timeout() -> float:
    """The stall timeout in seconds: ``$KPB_TIMEOUT`` when set, else 60."""
    text = os.environ.get(_TIMEOUT_ENV, "").strip()
    if not text:
        return _DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    return check_timeout(value, f"${_TIMEOUT_ENV}={text!r}")


def check_timeout(value: float, shown: str) -> float:
    """A stall timeout must be a positive, finite number of seconds."""
    if not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{shown}: the timeout must be a positive number of seconds")
    return value


def check_remote(remote: str) -> str:
    """The last guard before a remote reaches git's command line, whoever the caller is.

    The rules are jsonnetfile's (:func:`uri.check_remote`: no option, no ``<transport>::``
    helper, no control character), plus git's own single-colon program-running prefixes.
    """
    uri.check_remote(remote)
    if remote.lower().startswith(("ext:", "fd:")):
        raise ConfigError(f"remote {without_userinfo(remote)!r} uses a forbidden git transport")
    return remote


def check_ref(ref: str) -> str:
    """The last guard before a ref reaches git: :func:`uri.check_version`'s rules, never empty."""
    if not ref:
        raise ConfigError("an empty version is not a git ref or commit")
    uri.check_version(ref)
    return ref


@dataclass(frozen=True)
class Result:
    """What a finished git command printed on stdout (its stderr matters only on failure)."""

    stdout: bytes


def run(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    offline: bool = False,
    input_bytes: bytes | None = None,
    what: str,
    remote: str = "",
    timeout: float | None = None,
) -> Result:
    """Run one git command; on failure raise :class:`GitError` naming ``what`` failed.

    ``remote`` is the remote the command talks to (named when it stalls or the network
    fails); ``timeout`` the stall limit in seconds (None: :func:`default_timeout`).
    """
    seconds = default_timeout() if timeout is None else timeout
    argv = ["git", *_base_config(offline=offline), *_speed_limit(seconds, offline), *args]
    where = f" (in {cwd})" if cwd is not None else ""
    log.debug("git %s%s", " ".join(map(without_userinfo, args)), where)
    proc = _spawn(argv, cwd, subprocess.PIPE if input_bytes is not None else subprocess.DEVNULL)
    out, err = bytearray(), bytearray()
    watch = _Watch(proc, seconds)
    try:
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [_pump(proc.stdout, out, watch), _pump(proc.stderr, err, watch, _STDERR_KEPT)]
        if input_bytes is not None:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):  # git died: its exit code says why
                proc.stdin.write(input_bytes)
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        code = proc.wait()
        for pump in pumps:
            pump.join()
    finally:
        watch.stop()
        _reap(proc)
    text = err.decode("utf-8", "replace")
    if watch.stalled or (code != 0 and not offline and _TOO_SLOW.search(text)):
        raise _stalled(what, remote, seconds, args[0], cwd)
    if code != 0:
        detail = _last_line(text) or f"git exited with {code}"
        if remote and not offline and _NETWORK_FAILURE.search(text):
            detail += f"; {_NETWORK_HINT}"
        raise GitError(without_userinfo(f"{what}: {detail}"))  # what may quote a remote
    return Result(bytes(out))


def _speed_limit(seconds: float, offline: bool) -> list[str]:
    """git's own HTTP stall limit (curl's low-speed abort), the same as the watchdog's."""
    if offline:
        return []
    limit = str(max(1, math.ceil(seconds)))
    return ["-c", "http.lowSpeedLimit=1", "-c", f"http.lowSpeedTime={limit}"]


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def _spawn(argv: list[str], cwd: Path | None, stdin: int) -> subprocess.Popen[bytes]:
    """Start git in a new session (its own process group), so a stall kills all its helpers
    (``git-remote-https``, ``index-pack``) and nothing keeps our pipes open."""
    proc = subprocess.Popen(
        argv,
        cwd=cwd if cwd is not None else _nowhere(),
        env=clean_env(),
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        start_new_session=True,
    )
    with _live_lock:
        _live.add(proc)
    return proc


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Make sure the git (and its group) is gone and forgotten, also after Ctrl-C."""
    if proc.poll() is None:
        _kill(proc)
        proc.wait()
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    with _live_lock:
        _live.discard(proc)


def stop_all() -> None:
    """Kill every git this process is running (Ctrl-C or an error in another thread).

    git runs in its own session, so the terminal's SIGINT no longer reaches it; whoever
    abandons running work calls this instead of waiting for the transfers to finish.
    """
    with _live_lock:
        running = list(_live)
    for proc in running:
        if proc.poll() is None:
            _kill(proc)


class _Watch:
    """The stall watchdog: kills the git group when no byte arrived for ``seconds``."""

    def __init__(self, proc: subprocess.Popen[bytes], seconds: float) -> None:
        self.proc = proc
        self.seconds = seconds
        self.last = time.monotonic()
        self.stalled = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="kpb-git-watch", daemon=True)
        self._thread.start()

    def feed(self) -> None:
        self.last = time.monotonic()

    def _watch(self) -> None:
        tick = min(0.25, self.seconds / 4)
        while not self._done.wait(tick):
            if time.monotonic() - self.last >= self.seconds and self.proc.poll() is None:
                self.stalled = True
                _kill(self.proc)
                return

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def _pump(
    stream: IO[bytes], sink: bytearray, watch: _Watch, keep: int | None = None
) -> threading.Thread:
    """Read ``stream`` into ``sink`` in a thread, feeding the watchdog on every chunk; with
    ``keep``, only the last ``keep`` bytes stay (a server may send endless progress text)."""

    def pump() -> None:
        fd = stream.fileno()
        while chunk := os.read(fd, 65536):
            sink.extend(chunk)
            if keep is not None and len(sink) > keep:
                del sink[: len(sink) - keep]
            watch.feed()

    thread = threading.Thread(target=pump, name="kpb-git-pipe", daemon=True)
    thread.start()
    return thread


class _FedReader(io.RawIOBase):
    """A pipe that feeds the watchdog whenever bytes arrive (``git archive``'s stdout)."""

    def __init__(self, raw: IO[bytes], watch: _Watch) -> None:
        self.fd = raw.fileno()
        self.watch = watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = os.read(self.fd, len(buffer))
        buffer[: len(data)] = data
        if data:
            self.watch.feed()
        return len(data)


def _stalled(what: str, remote: str, seconds: float, command: str, cwd: Path | None) -> GitError:
    """One line naming the silent remote (and where a mirror sent it) and what to try."""
    if not remote:
        what = without_userinfo(what)
        return GitError(f"{what}: git {command} gave no output for {seconds:g} s; {_NETWORK_HINT}")
    shown = without_userinfo(remote)
    try:
        url = (
            run(
                ["ls-remote", "--get-url", "--", remote],
                cwd=cwd,
                offline=True,
                what="git ls-remote",
            )
            .stdout.decode("utf-8", "replace")
            .strip()
        )
    except GitError:
        url = ""
    url = without_userinfo(url)  # a mirror URL in the user's config may carry a token
    if url and url != without_userinfo(remote) and not _CONTROL_CHARS.search(url):
        shown = f"{shown} (via {url})"
    return GitError(f"no data from {shown} for {seconds:g} s; {_NETWORK_HINT}")


_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [""])[-1]


def ls_remote(remote: str, ref: str, *, timeout: float | None = None) -> str | None:
    """The sha jb records for ``ref``: the first heads/tags match, tag objects unpeeled.

    ``--refs`` hides the peeled ``^{}`` lines, so an annotated tag yields its tag-object sha
    exactly like jb's GitHub path; heads sort before tags, and patterns match ref tails.
    """
    out = run(
        [
            "ls-remote",
            "--heads",
            "--tags",
            "--refs",
            "--quiet",
            "--",
            check_remote(remote),
            check_ref(ref),
        ],
        what=f"cannot list refs of {remote}",
        remote=remote,
        timeout=timeout,
    ).stdout.decode()
    for line in out.splitlines():
        sha = line.split("\t", 1)[0].strip()
        if SHA_RE.match(sha):
            return sha
    return None


def init_bare(path: Path, remote: str) -> None:
    """Create a bare repository whose ``origin`` is ``remote``, with no template (no hooks)."""
    run(
        ["init", "--bare", "--quiet", f"--template={_EMPTY_TEMPLATE}", "--", str(path)],
        what=f"cannot create cache repository {path}",
    )
    run(["config", "remote.origin.url", check_remote(remote)], cwd=path, what="git config")


def fetch(
    repo: Path,
    refspecs: Sequence[str],
    *,
    depth: int | None,
    what: str,
    refetch: bool = False,
    remote: str = "",
    timeout: float | None = None,
) -> None:
    """Fetch explicit refspecs from ``origin`` (``remote``) as a blob-less partial clone.

    Servers without filter support simply send the blobs too (git prints a warning), so no
    separate fallback is needed for them. ``refetch`` gets everything again, blobs included,
    for servers that cannot serve single blobs.
    """
    args = ["fetch", "--quiet", "--progress", "--no-tags", "--no-write-fetch-head"]
    args += ["--recurse-submodules=no"]
    args += ["--refetch", "--no-filter"] if refetch else ["--filter=blob:none"]
    if depth is not None:
        args.append(f"--depth={depth}")
    run([*args, "origin", *refspecs], cwd=repo, what=what, remote=remote, timeout=timeout)


def fetch_objects(
    repo: Path, oids: Sequence[str], *, what: str, remote: str = "", timeout: float | None = None
) -> None:
    """Fetch exactly these objects (the blobs a subdir needs), as git's own lazy fetch does."""
    if not oids:
        return
    run(
        [
            "-c",
            "fetch.negotiationAlgorithm=noop",
            "fetch",
            "--quiet",
            "--progress",
            "--no-tags",
            "--no-write-fetch-head",
            "--recurse-submodules=no",
            "--filter=blob:none",
            "--stdin",
            "origin",
        ],
        cwd=repo,
        input_bytes="".join(f"{oid}\n" for oid in oids).encode(),
        what=what,
        remote=remote,
        timeout=timeout,
    )


def refs(repo: Path, prefix: str) -> dict[str, str]:
    """Map refname → sha for the refs under ``prefix``; reads refs only, never objects."""
    out = run(
        ["for-each-ref", "--format=%(refname) %(objectname)", "--", prefix],
        cwd=repo,
        offline=True,
        what=f"cannot read refs of {repo}",
    ).stdout.decode()
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def update_ref(repo: Path, ref: str, sha: str) -> None:
    """Point ``ref`` at ``sha`` so the objects stay reachable (and visible to :func:`refs`)."""
    run(["update-ref", "--no-deref", ref, sha], cwd=repo, offline=True, what="git update-ref")


def peel_commit(repo: Path, sha: str, *, offline: bool = True) -> str:
    """The commit a sha denotes: itself, or what an annotated tag points at."""
    out = run(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{check_ref(sha)}^{{commit}}"],
        cwd=repo,
        offline=offline,
        what=f"{sha} is not a commit or tag in {repo.name}",
    )
    return out.stdout.decode().strip()


def missing_objects(repo: Path, specs: Sequence[str]) -> list[str] | None:
    """Objects reachable from ``specs`` (e.g. ``<commit>:<subdir>``) that the partial clone
    lacks; None when a spec does not name an object.

    ``rev-list --missing=print`` walks the trees we have and lists absent blobs without trying
    to fetch them, so this is how "already cached, no network" is decided.
    """
    try:
        out = run(
            ["rev-list", "--objects", "--missing=print", *specs, "--"],
            cwd=repo,
            offline=True,
            what="git rev-list",
        ).stdout.decode("utf-8", "replace")  # paths may be any bytes; only oids are used
    except GitError:
        return None
    return [line[1:].split()[0] for line in out.splitlines() if line.startswith("?")]


def _tree_entry(repo: Path, commit: str, path: str) -> str | None:
    """The object id of ``path`` at ``commit`` (trees only are read), or None if absent."""
    out = run(
        ["ls-tree", "--full-tree", "-z", commit, "--", path],
        cwd=repo,
        offline=True,
        what="git ls-tree",
    ).stdout.decode()
    for entry in out.split("\0"):
        meta, _, name = entry.partition("\t")
        if name == path:
            return meta.split()[2]
    return None


def read_blob(
    repo: Path,
    commit: str,
    path: str,
    *,
    offline: bool,
    remote: str = "",
    timeout: float | None = None,
) -> bytes | None:
    """The bytes of ``path`` at ``commit``, or None; a missing blob is fetched lazily by git."""
    oid = _tree_entry(repo, commit, path)
    if oid is None:
        return None
    return run(
        ["cat-file", "blob", oid],
        cwd=repo,
        offline=offline,
        what=f"cannot read {path}",
        remote=remote,
        timeout=timeout,
    ).stdout


def archive(
    repo: Path, commit: str, subdir: str, dest: Path, what: str, *, timeout: float | None = None
) -> None:
    """Extract ``subdir`` of ``commit`` into ``dest`` (which must exist and be empty).

    The tree ``<commit>:<subdir>`` is archived, not ``<commit> -- <subdir>``: with a pathspec,
    git 2.39 reads every blob of the commit, defeating the partial clone. ``export-ignore``
    from ``.gitattributes`` inside the subdir still applies, like the GitHub tarballs jb uses.
    The tar stream goes to :func:`kubeprom_build.vendoring.extract.extract`, which writes only
    inside
    ``dest`` whatever the tree holds; the same stall watchdog as :func:`run` guards it.
    """
    seconds = default_timeout() if timeout is None else timeout
    tree = f"{commit}:{subdir}" if subdir else f"{commit}^{{tree}}"
    argv = ["git", *_base_config(offline=True), "archive", "--format=tar", tree, "--"]
    proc = _spawn(argv, repo, subprocess.DEVNULL)
    watch = _Watch(proc, seconds)
    err = bytearray()
    broken: tarfile.TarError | None = None
    try:
        assert proc.stdout is not None and proc.stderr is not None
        pump = _pump(proc.stderr, err, watch, _STDERR_KEPT)
        try:
            extract.extract(io.BufferedReader(_FedReader(proc.stdout, watch)), dest, what)
        except tarfile.TarError as exc:
            broken = exc
        finally:
            proc.stdout.close()  # an early refusal must not leave git blocked on a full pipe
            code = proc.wait()
            pump.join()
    finally:
        watch.stop()
        _reap(proc)
    if watch.stalled:
        raise GitError(f"{what}: git archive gave no output for {seconds:g} s")
    if code != 0 or broken is not None:
        detail = _last_line(err.decode("utf-8", "replace"))
        detail = detail or (f"unreadable archive ({broken})" if broken else "")
        raise GitError(f"{what}: {detail or 'git archive failed'}")
