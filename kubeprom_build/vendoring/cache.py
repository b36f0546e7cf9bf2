"""The user-level cache of git objects: one blob-less bare repository per remote.

Every project and every subdir of a remote share one entry, so grafana/grafana costs its
commits and trees once plus the blobs of the folders actually vendored. An entry is created
with pre-commit's recipe (check → file lock → check again → build in a temp dir → publish by
rename) and later fetches happen under the same lock, so concurrent runs and Ctrl-C never leave
a broken entry. A commit already cached never touches the network. Every git call carries the
run's stall timeout; offline, a miss raises :class:`CacheMiss` so callers can collect them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kubeprom_build import fsutil
from kubeprom_build.errors import GitError
from kubeprom_build.vendoring import git
from kubeprom_build.vendoring.seal import cache_root as cache_root
from kubeprom_build.vendoring.seal import record_seal as record_seal

log = logging.getLogger("kpb")

_SHA_REF = "refs/kpb/sha/"
_LOCK_WAIT_SECONDS = 600.0
_ABBREVIATED = re.compile(r"\A[0-9a-f]{7,39}\Z")  # \Z, not $: no trailing newline
_ALL_REFS = ["+refs/heads/*:refs/kpb/heads/*", "+refs/tags/*:refs/kpb/tags/*"]


class CacheMiss(GitError):
    """Offline, and what was asked for is not in the cache (the network would have it)."""


def entry_name(remote: str) -> str:
    """A readable, collision-free directory name for ``remote``."""
    tail = re.sub(r"^[a-z+]+://", "", remote.lower()).removesuffix(".git")
    slug = re.sub(r"[^a-z0-9._-]+", "-", tail).strip("-.")[-60:] or "remote"
    digest = hashlib.sha256(remote.encode()).hexdigest()[:12]
    return f"{slug}-{digest}"


@dataclass(frozen=True)
class GitCache:
    """Fetch and extract packages through the cache; ``offline`` forbids any network access."""

    root: Path = field(default_factory=cache_root)
    offline: bool = False
    #: Stall timeout in seconds for every git call (None: ``$KPB_TIMEOUT`` or 60).
    timeout: float | None = None
    #: What this run already proved about the cache (a fetched sha, its commit, a subdir with
    #: all its blobs): a cache only grows during a run, so a prefetch's checks are not repeated
    #: by the real fetch. Keys are tuples; values the peeled commit, or "" for a fact.
    _proved: dict[tuple[str, ...], str] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        """A bad ``--timeout`` or ``$KPB_TIMEOUT`` fails before anything runs."""
        if self.timeout is not None:
            git.check_timeout(self.timeout, f"--timeout {self.timeout:g}")
        else:
            git.default_timeout()

    def repo_path(self, remote: str) -> Path:
        return self.root / "repos" / entry_name(remote)

    def _lock(self, remote: str) -> contextlib.AbstractContextManager[None]:
        path = self.root / "locks" / f"{entry_name(remote)}.lock"
        return fsutil.file_lock(path, f"cache entry for {remote}", _LOCK_WAIT_SECONDS)

    def resolve(self, remote: str, version: str) -> str:
        """The sha to lock for ``version``: what ``git ls-remote`` reports, as jb records it."""
        git.check_remote(remote)
        git.check_ref(version)
        if git.SHA_RE.match(version):
            return version
        if self.offline:
            raise CacheMiss(
                f"{remote}@{version} is not locked and resolving a branch or tag needs the "
                "network; run without --offline"
            )
        sha = git.ls_remote(remote, version, timeout=self.timeout)
        if sha is None and _ABBREVIATED.match(version):
            sha = self._expand(remote, version)
        if sha is None:
            raise GitError(f"version {version!r} does not exist in {remote}")
        return sha

    def _expand(self, remote: str, short: str) -> str | None:
        """An abbreviated commit sha: jb's git path finds it after a full fetch, so do we."""
        with self._lock(remote):
            repo = self._update_entry(remote, lambda r: self._fetch_all(r, remote))
            try:
                commit = git.peel_commit(repo, short)
            except GitError:
                return None
            git.update_ref(repo, f"{_SHA_REF}{commit}", commit)
            return commit

    def _fetch_all(self, repo: Path, remote: str, *, refetch: bool = False) -> None:
        what = f"cannot fetch {remote}"
        git.fetch(
            repo,
            _ALL_REFS,
            depth=None,
            what=what,
            refetch=refetch,
            remote=remote,
            timeout=self.timeout,
        )

    def has(self, remote: str, sha: str) -> bool:
        """True when ``sha`` was fetched before (decided from refs alone: no network)."""
        if ("has", remote, sha) in self._proved:
            return True
        repo = self.repo_path(remote)
        found = repo.is_dir() and f"{_SHA_REF}{sha}" in git.refs(repo, _SHA_REF)
        if found:
            self._proved["has", remote, sha] = ""
        return found

    def commit(self, remote: str, sha: str) -> tuple[Path, str]:
        """Make ``sha`` (commit or tag object) available; returns the repo and the commit."""
        git.check_remote(remote)
        git.check_ref(sha)
        if self.has(remote, sha):
            log.debug("cache hit: %s at %s", git.without_userinfo(remote), sha[:12])
        else:
            if self.offline:
                raise CacheMiss(
                    f"{remote} at {sha} is not in the cache ({self.root}); run without --offline"
                )
            with self._lock(remote):
                self._fetch_locked(remote, sha)
            self._proved["has", remote, sha] = ""
        repo = self.repo_path(remote)
        commit = self._proved.get(("peel", remote, sha))
        if commit is None:
            commit = self._proved["peel", remote, sha] = git.peel_commit(repo, sha)
        return repo, commit

    def _fetch_locked(self, remote: str, sha: str) -> None:
        def fetch(repo: Path) -> None:
            if f"{_SHA_REF}{sha}" not in git.refs(repo, _SHA_REF):
                self._fetch_sha(repo, remote, sha)

        self._update_entry(remote, fetch)

    def _update_entry(self, remote: str, action: Callable[[Path], None]) -> Path:
        """Run ``action`` on the entry (caller holds its lock); a new entry is built in a
        temp dir and published by rename only when ``action`` succeeded."""
        repo = self.repo_path(remote)
        fsutil.recover_dir(repo)
        if repo.is_dir():
            _clear_stale_locks(repo)
            action(repo)
            return repo
        staged = fsutil.staging_dir(repo)
        try:
            git.init_bare(staged, remote)
            action(staged)
            os.rename(staged, repo)
        except BaseException:
            fsutil.remove_tree(staged)
            raise
        return repo

    def _fetch_sha(self, repo: Path, remote: str, sha: str) -> None:
        """Fetch one commit shallowly by sha; fall back to all branches and tags like jb does.

        The fallback only runs for servers that refuse unadvertised wants (protocol v0 without
        ``allowAnySHA1InWant``); a sha the server does not know fails at once, touching nothing.
        """
        ref = f"+{sha}:{_SHA_REF}{sha}"
        what = f"cannot fetch {sha} from {remote}"
        try:
            git.fetch(repo, [ref], depth=1, what=what, remote=remote, timeout=self.timeout)
            return
        except GitError as err:
            if "not our ref" in str(err):
                raise GitError(f"version {sha} does not exist in {remote}") from None
            if "unadvertised" not in str(err):
                raise
            log.debug("shallow fetch of %s refused (%s); fetching everything", sha, err)
        self._fetch_all(repo, remote)
        try:
            git.peel_commit(repo, sha, offline=True)
        except GitError:
            raise GitError(f"version {sha} does not exist in {remote}") from None
        git.update_ref(repo, f"{_SHA_REF}{sha}", sha)

    def _fetch_blobs(self, repo: Path, remote: str, oids: list[str], subdir: str) -> None:
        """Fetch the blobs a subdir needs; servers refusing blob wants get a full re-fetch."""
        what = f"cannot fetch {remote} {subdir!r}"
        try:
            git.fetch_objects(repo, oids, what=what, remote=remote, timeout=self.timeout)
        except GitError as err:
            if "unadvertised" not in str(err):
                raise
            self._fetch_all(repo, remote, refetch=True)

    def export(self, remote: str, sha: str, subdir: str, dest: Path) -> str:
        """Extract ``subdir`` at ``sha`` into the empty directory ``dest``; returns the commit.

        Only the blobs below ``subdir`` are fetched, in one request.
        """
        repo, commit = self.warm(remote, sha, subdir)
        what = f"{remote} {subdir!r} at {sha}"
        git.archive(repo, commit, subdir, dest, what=what, timeout=self.timeout)
        return commit

    def warm(self, remote: str, sha: str, subdir: str) -> tuple[Path, str]:
        """Fetch what :meth:`export` needs (the commit, the blobs below ``subdir``) into the
        cache without extracting; returns the repo and the commit. Used for prefetching."""
        repo, commit = self.commit(remote, sha)
        if ("complete", remote, commit, subdir) in self._proved:
            return repo, commit
        specs = [f"{commit}:{subdir}" if subdir else f"{commit}^{{tree}}"]
        missing = git.missing_objects(repo, specs)
        if missing is None:
            raise GitError(f"subdir {subdir!r} does not exist in {remote} at {sha}")
        if missing:
            if self.offline:
                raise CacheMiss(
                    f"{len(missing)} files of {remote} {subdir!r} at {sha} are not in the cache; "
                    "run without --offline"
                )
            with self._lock(remote):
                if ("complete", remote, commit, subdir) in self._proved:
                    return repo, commit  # a prefetch fetched them while we waited for the lock
                _clear_stale_locks(repo)
                self._fetch_blobs(repo, remote, missing, subdir)
        self._proved["complete", remote, commit, subdir] = ""
        return repo, commit

    def read_file(self, remote: str, sha: str, path: str) -> bytes | None:
        """One file of the repository at ``sha`` (e.g. its root lock), or None if absent."""
        repo, commit = self.commit(remote, sha)
        with self._lock(remote):
            return git.read_blob(
                repo, commit, path, offline=self.offline, remote=remote, timeout=self.timeout
            )


def _clear_stale_locks(repo: Path) -> None:
    """Lock files a killed git left behind; we hold the entry's lock, so no git is running."""
    for path in [repo / "shallow.lock", repo / "packed-refs.lock", repo / "config.lock"]:
        path.unlink(missing_ok=True)
    for path in (repo / "refs").rglob("*.lock"):
        path.unlink(missing_ok=True)
