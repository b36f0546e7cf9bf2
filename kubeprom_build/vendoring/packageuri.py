"""``kpb install`` arguments: the package URIs jb accepts, read into a :class:`Dependency`.

This sits above both :mod:`uri` (remote naming) and :mod:`jsonnetfile` (the model) so that
neither needs the other's name at import time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kubeprom_build.errors import ConfigError
from kubeprom_build.vendoring import uri
from kubeprom_build.vendoring.jsonnetfile import Dependency, GitSource, LocalSource


def parse_uri(text: str, project_dir: Path) -> Dependency:
    """Read an ``install`` argument the way jb does.

    Git forms win over local directories: ``github.com/o/r/sub@v``, ``https://…``, ``ssh://git@…``,
    ``git@host:user/repo.git``, ``HOST/USER…/REPO.git``. Otherwise the argument must be an
    existing directory relative to ``project_dir`` (Go joins, so a leading '/' stays relative).
    """
    if not text:
        raise ConfigError("package URI is empty")
    try:
        uri.check_remote(text)
        return _parse_git_uri(text) or _parse_local_uri(text, project_dir)
    except ConfigError as exc:
        raise ConfigError(f"package {text!r}: {exc}") from None


def _parse_git_uri(text: str) -> Dependency | None:
    if uri.URL_SCHEME.match(text) and uri.is_verbatim_remote(text):
        return _parse_verbatim_uri(text)
    found = None if uri.is_verbatim_remote(text) else uri.jb_match(text)
    if found is None:
        return None
    uri.check_name_components(found.parts.name, text)
    version = found.version or uri.DEFAULT_VERSION
    uri.check_version(version)
    return Dependency(GitSource(found.parts.render(), uri.clean_subdir(found.subdir)), version)


def _parse_local_uri(text: str, project_dir: Path) -> Dependency:
    directory = os.path.normpath(text)
    if not (project_dir / directory.lstrip("/")).is_dir():
        raise ConfigError(
            "not a git URI (HOST/USER/REPO[/SUBDIR][@VERSION]) "
            f"and not a directory under {project_dir}"
        )
    local = LocalSource(directory)
    local.check()
    return Dependency(local)


_VERBATIM_URI = re.compile(r"(?P<remote>.+?\.git)(?:/(?P<subdir>[^@]*))?(?:@(?P<version>.*))?")


def _parse_verbatim_uri(text: str) -> Dependency:
    """``file:///srv/repo.git[/SUBDIR][@VERSION]``: a kpb extension for local mirrors and tests.

    jb has no such form; the remote part must end in ``.git`` so the split is unambiguous.
    """
    found = _VERBATIM_URI.fullmatch(text)
    if found is None:
        raise ConfigError("a URL with this scheme must end in '.git' (plus /SUBDIR or @VERSION)")
    remote = found["remote"]
    uri.remote_name_parts(remote)
    version = found["version"] or uri.DEFAULT_VERSION
    uri.check_version(version)
    return Dependency(GitSource(remote, uri.clean_subdir(found["subdir"] or "")), version=version)
