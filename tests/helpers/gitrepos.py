"""Builders for real git repositories used as ``file://`` remotes in tests.

Commit dates and identities come from the autouse fixture in conftest.py, so every sha is
stable across runs. Remotes allow partial-clone filters like GitHub does.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` for test setup and return its stdout (stripped)."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout.strip()


@dataclass
class Remote:
    """A non-bare repository that serves as a remote; commit to it, tag it, move branches."""

    path: Path

    @property
    def url(self) -> str:
        return f"file://{self.path}"

    def write(self, files: dict[str, str | bytes | None]) -> None:
        """Create, change (str/bytes) or delete (None) files in the work tree."""
        for rel, content in files.items():
            target = self.path / rel
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            target.write_bytes(data)

    def commit(self, files: dict[str, str | bytes | None], message: str = "change") -> str:
        """Write ``files``, commit everything and return the new commit sha."""
        self.write(files)
        git(self.path, "add", "-A")
        git(self.path, "commit", "--quiet", "--allow-empty", "-m", message)
        return self.head()

    def symlink(self, rel: str, target: str) -> None:
        """Add a symlink ``rel`` → ``target`` to the work tree (commit it afterwards)."""
        link = self.path / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, link)

    def head(self, ref: str = "HEAD") -> str:
        return git(self.path, "rev-parse", ref)

    def tag(self, name: str, *, annotated: bool = False, ref: str = "HEAD") -> str:
        """Create a tag; returns what ``git ls-remote`` reports (tag object for annotated)."""
        if annotated:
            git(self.path, "tag", "-a", name, "-m", f"release {name}", ref)
        else:
            git(self.path, "tag", name, ref)
        return git(self.path, "rev-parse", f"refs/tags/{name}")

    def branch(self, name: str, ref: str = "HEAD") -> None:
        git(self.path, "branch", "--force", name, ref)

    def checkout(self, name: str) -> None:
        git(self.path, "checkout", "--quiet", name)

    def jsonnetfile(self, subdir: str, deps: list[dict[str, Any]], **extra: Any) -> str:
        """A v1 jsonnetfile.json text in ``subdir`` listing ``deps`` (already-shaped dicts)."""
        body = {"version": 1, "dependencies": deps, "legacyImports": True, **extra}
        rel = f"{subdir}/jsonnetfile.json" if subdir else "jsonnetfile.json"
        text = json.dumps(body, indent=2) + "\n"
        self.write({rel: text})
        return rel


def make_remote(
    root: Path, name: str, files: dict[str, str | bytes | None] | None = None
) -> Remote:
    """A new repository ``root/name`` on branch ``master``, with one commit of ``files``."""
    path = root / name
    path.mkdir(parents=True)
    git(path, "init", "--quiet", "--initial-branch=master")
    git(path, "config", "uploadpack.allowFilter", "true")
    remote = Remote(path)
    remote.commit(files or {"README.md": f"# {name}\n"}, message="initial")
    return remote


def git_dep(remote: str, subdir: str = "", version: str = "master", **extra: Any) -> dict[str, Any]:
    """A v1 dependency dict for a git source."""
    return {"source": {"git": {"remote": remote, "subdir": subdir}}, "version": version, **extra}


def local_dep(directory: str) -> dict[str, Any]:
    """A v1 dependency dict for a local source."""
    return {"source": {"local": {"directory": directory}}, "version": ""}


def write_jsonnetfile(project: Path, deps: list[dict[str, Any]], *, lock: bool = False) -> Path:
    """Write a project's jsonnetfile.json (or lock) with ``deps`` in jb's layout."""
    name = "jsonnetfile.lock.json" if lock else "jsonnetfile.json"
    body = {"version": 1, "dependencies": deps, "legacyImports": not lock}
    path = project / name
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def insteadof_config(tmp: Path, mapping: dict[str, str]) -> Path:
    """A git config file redirecting URL prefixes (``url.<base>.insteadOf``), as mirrors do."""
    path = tmp / "gitconfig-insteadof"
    lines = [f'[url "{base}"]\n\tinsteadOf = {prefix}\n' for prefix, base in mapping.items()]
    path.write_text("".join(lines))
    return path


def snapshot(*roots: Path) -> dict[str, bytes | str]:
    """Every file's bytes and every symlink's target below ``roots``: compare before/after."""
    state: dict[str, bytes | str] = {}
    for root in roots:
        if not root.exists():
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            base = Path(dirpath)
            for name in dirnames + filenames:
                entry = base / name
                key = str(entry)
                if entry.is_symlink():
                    state[key] = "-> " + os.readlink(entry)
                elif entry.is_file():
                    state[key] = entry.read_bytes()
                else:
                    state[key] = "dir"
    return state


@dataclass
class World:
    """Remotes that look like GitHub: ``https://github.com/ORG/NAME.git`` is redirected to a
    local repository by ``url.<base>.insteadOf`` in a test-local global git config."""

    root: Path

    def remote(self, slug: str, files: dict[str, str | bytes | None] | None = None) -> Remote:
        org, name = slug.split("/")
        return make_remote(self.root / "github.com" / org, f"{name}.git", files)

    @staticmethod
    def url(slug: str) -> str:
        return f"https://github.com/{slug}.git"

    def config(self) -> Path:
        return insteadof_config(
            self.root, {"https://github.com/": f"file://{self.root}/github.com/"}
        )


def github_world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    """A fresh :class:`World` under ``tmp_path`` whose redirects are the test's git config."""
    created = World(tmp_path / "remotes")
    created.root.mkdir()
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(created.config()))
    return created
