"""Package URIs and git remotes the way jsonnet-bundler (v0.6.0) reads them.

jb derives three things from a remote: the vendor path (``HOST/USER/REPO``), the canonical remote
it writes back (``https://HOST/USER/REPO.git`` or ``ssh://git@HOST/USER/REPO.git``) and the
package's legacy name. We replay jb's four unanchored patterns in jb's order so that names and
written remotes match jb byte for byte, and add what jb lacks: remotes jb cannot use at all
(``file://`` URLs, filesystem paths) are kept verbatim and get a predictable name, and hostile
values (``ext::`` transports, option-like strings, ``..``) are refused before anything runs.
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass

from kubeprom_build.errors import ConfigError

# jb's host pattern: "a DNS name with zero or more subdomains and a TLD".
_HOST = r"(?P<host>[a-zA-Z0-9][a-zA-Z0-9.\-]{1,61}[a-zA-Z0-9]\.[a-zA-Z]{2,})"
# Patterns in jb's order; the first that matches anywhere in the string wins. The unescaped '.'
# before "git" in the ssh forms is jb's and kept on purpose: it decides which strings match.
_PATTERNS: tuple[tuple[str, str], ...] = (
    ("ssh", r"ssh://git@(?P<host>.+)/(?P<user>.+)/(?P<repo>.+).git"),
    ("ssh", r"^git@(?P<host>.+):(?P<user>.+)/(?P<repo>.+).git"),
    ("https", _HOST + r"/(?P<user>[-_~a-zA-Z0-9/.]+)/(?P<repo>[-_a-zA-Z0-9.]+)\.git"),
    ("https", _HOST + r"/(?P<user>[-_~a-zA-Z0-9.]+)/(?P<repo>[-_a-zA-Z0-9.]+)"),
)
# Each pattern may be followed by these tails, tried in this order.
_TAILS = (r"/(?P<subdir>.*)@(?P<version>.*)", r"/(?P<subdir>.*)", r"@(?P<version>.*)", "")
_COMPILED = tuple(
    (scheme, re.compile(base), tuple(re.compile(base + tail) for tail in _TAILS))
    for scheme, base in _PATTERNS
)
_HOST_COMPONENT = re.compile(_HOST)
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*::")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Schemes whose remotes jb parses and rewrites canonically; anything else is kept verbatim.
_JB_SCHEMES = frozenset({"https", "http", "ssh", "git", "git+ssh", "ssh+git"})
# jb's ssh patterns take any text as the host; from a dependency only a plain name will do.
_NETWORK_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]*(?::[0-9]{1,5})?")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
#: A URL's ``user:token@``, wherever it stands in a text (up to the last ``@`` of its host).
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s]*@")
DEFAULT_VERSION = "master"
_FALLBACK_HOST = "local"


@dataclass(frozen=True)
class RemoteParts:
    """The pieces of a remote that jb builds names from."""

    host: str
    user: str  # may contain '/' (GitLab subgroups)
    repo: str  # without the trailing ".git"
    scheme: str = "https"  # "https" or "ssh": which canonical form jb writes

    @property
    def name(self) -> str:
        """``HOST/USER/REPO``: the vendor path of the repository root."""
        return f"{self.host}/{self.user}/{self.repo}"

    def render(self) -> str:
        """The canonical remote jb writes for these parts."""
        prefix = "ssh://git@" if self.scheme == "ssh" else "https://"
        return f"{prefix}{self.host}/{self.user}/{self.repo}.git"


@dataclass(frozen=True)
class _Match:
    parts: RemoteParts
    subdir: str
    version: str


def jb_match(text: str) -> _Match | None:
    """Apply jb's patterns and tails exactly as jb does; None when no pattern matches."""
    for scheme, base, tails in _COMPILED:
        if not base.search(text):
            continue
        for tail in tails:
            found = tail.search(text)
            if found is None:
                continue
            groups = found.groupdict()
            repo = groups["repo"]
            parts = RemoteParts(
                host=groups["host"],
                user=groups["user"],
                repo=repo[: -len(".git")] if repo.endswith(".git") else repo,
                scheme=scheme,
            )
            return _Match(parts, groups.get("subdir") or "", groups.get("version") or "")
    return None


def without_userinfo(text: str) -> str:
    """``text`` with the ``user:token@`` of every URL in it dropped: logs and messages may be
    shared (CI logs), and a remote as written may carry a token."""
    return _USERINFO.sub(r"\1", text)


def _shown(remote: str) -> str:
    """How messages quote a remote: as written, less any credentials."""
    return repr(without_userinfo(remote))


def is_verbatim_remote(remote: str) -> bool:
    """True for remotes jb cannot use (``file://``, other schemes, filesystem paths).

    kpb keeps those exactly as written; they exist so tests and mirrors can use local
    repositories. Everything else goes through jb's patterns.
    """
    scheme = URL_SCHEME.match(remote)
    if scheme is not None:
        return scheme.group(1).lower() not in _JB_SCHEMES
    return remote.startswith(("/", ".", "~"))


def check_remote(remote: str) -> None:
    """Refuse remotes that could make git run a program or read an option."""
    if not remote:
        raise ConfigError("remote is empty")
    if remote.startswith("-"):
        raise ConfigError(f"remote {_shown(remote)} must not start with '-'")
    if _TRANSPORT_HELPER.match(remote):
        raise ConfigError(
            f"remote {_shown(remote)} uses a '<transport>::' helper, which kpb refuses"
        )
    if _CONTROL.search(remote):
        raise ConfigError(f"remote {_shown(remote)} contains control characters")
    if not is_text(remote):
        raise ConfigError(f"remote {_shown(remote)} is not UTF-8 text")


def is_text(value: str) -> bool:
    """False for a string holding undecodable bytes (Python's surrogate escapes).

    A command-line argument or file name that is not UTF-8 reaches Python as lone surrogates;
    jsonnetfiles, locks and records are UTF-8 JSON, so such a value could never be written.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def network_remote(remote: str) -> str:
    """:func:`canonical_remote` for a file a dependency wrote: jb's network forms only.

    A local path, a ``file://`` URL or any other scheme jb cannot parse is refused: a third
    party must not make kpb read a repository from this machine. The result is always the
    canonical ``https://HOST/USER/REPO.git`` or ``ssh://git@HOST/USER/REPO.git``; a user's
    ``url.<base>.insteadOf`` still redirects it inside git, so mirrors keep working.
    """
    check_remote(remote)
    if is_verbatim_remote(remote):
        raise ConfigError(
            f"remote {_shown(remote)} is not a network remote (https://, ssh:// or git@HOST:); "
            "only the project's own jsonnetfile may name a local path or file:// URL"
        )
    canonical = canonical_remote(remote)
    parts = remote_name_parts(remote)
    if not _NETWORK_HOST.fullmatch(parts.host):
        raise ConfigError(
            f"remote {_shown(remote)}: {parts.host!r} is not a host name (HOST or HOST:PORT)"
        )
    if "%" in parts.user or "%" in parts.repo:
        # jb's ssh patterns take any text as USER; git decodes percent-escapes when a user's
        # insteadOf turns the URL into a file:// mirror, where %2e%2e climbs out of it.
        raise ConfigError(
            f"remote {_shown(remote)}: percent-escapes are refused in a dependency's remote (git "
            "decodes them for file:// mirrors, where '%2e%2e' would leave the mirror)"
        )
    return canonical


@functools.lru_cache(maxsize=4096)
def split_remote(remote: str) -> RemoteParts | None:
    """jb's reading of ``remote``; None for verbatim remotes and for ones jb cannot parse."""
    if is_verbatim_remote(remote):
        return None
    found = jb_match(remote)
    return None if found is None else found.parts


def canonical_remote(remote: str) -> str:
    """The remote as jb writes it; verbatim remotes unchanged; ConfigError if unusable."""
    check_remote(remote)
    if is_verbatim_remote(remote):
        remote_name_parts(remote)  # a verbatim remote still needs a safe name
        return remote
    parts = split_remote(remote)
    if parts is None:
        raise ConfigError(f"cannot parse git remote {_shown(remote)} (expected HOST/USER/REPO)")
    check_name_components(parts.name, remote)
    return parts.render()


@functools.lru_cache(maxsize=4096)
def remote_name_parts(remote: str) -> RemoteParts:
    """Name parts for any remote kpb accepts, including verbatim ones.

    For jb-parsable remotes these are jb's. For a verbatim remote (``file:///srv/x.git``, a
    path) the name comes from its path: the last component that looks like a DNS host with a
    TLD and has at least two components after it becomes HOST, the last component becomes REPO
    (minus ``.git``) and those between become USER, so ``file:///tmp/r/github.com/o/n.git`` is
    named ``github.com/o/n``. Without such a component the name is ``local/PARENT/REPO``. The
    path is normalised first and ``.``/``..``/empty components never reach the name.
    """
    parts = split_remote(remote)
    if parts is None:
        if not is_verbatim_remote(remote):
            raise ConfigError(f"cannot parse git remote {_shown(remote)} (expected HOST/USER/REPO)")
        parts = _path_name_parts(remote)
    check_name_components(parts.name, remote)
    return parts


def _path_name_parts(remote: str) -> RemoteParts:
    from urllib.parse import urlsplit  # here: it loads ipaddress, and few remotes get here

    path = urlsplit(remote).path if URL_SCHEME.match(remote) else remote
    comps = [c for c in posixpath.normpath(path).split("/") if c not in ("", ".", "..")]
    if len(comps) < 2:
        raise ConfigError(f"remote {_shown(remote)}: need at least two path components to name it")
    repo = comps[-1][: -len(".git")] if comps[-1].endswith(".git") else comps[-1]
    repo = repo or comps[-1]
    for index in range(len(comps) - 3, -1, -1):
        if _HOST_COMPONENT.fullmatch(comps[index]):
            user = "/".join(comps[index + 1 : -1])
            return RemoteParts(comps[index], user, repo, scheme="file")
    return RemoteParts(_FALLBACK_HOST, comps[-2], repo, scheme="file")


def check_name_components(name: str, remote: str) -> None:
    """The name becomes ``vendor/<name>``; a leading '-' would also read as an option."""
    for comp in name.split("/"):
        if comp in ("", ".", "..") or comp.startswith("-") or "\\" in comp:
            raise ConfigError(f"remote {_shown(remote)} yields an unsafe package name {name!r}")
        if _CONTROL.search(comp):
            raise ConfigError(f"remote {_shown(remote)} yields an unsafe package name {name!r}")


def clean_subdir(subdir: str) -> str:
    """Normalise a subdir to jb's written form (no leading '/', "" for the root) or refuse it.

    Leading and trailing slashes are tolerated as jb does; ``..``, backslashes and control
    characters are refused because the subdir becomes part of a path under ``vendor/``.
    """
    if "\\" in subdir or _CONTROL.search(subdir):
        raise ConfigError(f"subdir {subdir!r} contains a backslash or control characters")
    stripped = subdir.strip("/")
    if ".." in stripped.split("/"):
        raise ConfigError(f"subdir {subdir!r} must not contain '..'")
    if not stripped:
        return ""
    cleaned = posixpath.normpath(stripped)
    return "" if cleaned == "." else cleaned


def check_version(version: str) -> None:
    """Refuse versions git would misread: options, or names ``git check-ref-format`` rejects.

    Versions are branch or tag names or commit shas, passed to git as refs. "" is allowed here
    (local sources); the resolver decides what an empty git version means.
    """
    if not version:
        return
    problem = _ref_problem(version)
    if problem:
        raise ConfigError(f"version {version!r} {problem}")


def _ref_problem(ref: str) -> str:
    if ref.startswith("-"):
        return "must not start with '-'"
    if _REF_FORBIDDEN.search(ref):
        return "contains whitespace, control or one of the characters ~^:?*[\\"
    if ".." in ref or "@{" in ref or ref == "@":
        return "contains '..' or '@{'"
    if ref.startswith("/") or ref.endswith(("/", ".")) or "//" in ref:
        return "has an empty path component or ends with '.'"
    for comp in ref.split("/"):
        if comp.startswith(".") or comp.endswith(".lock"):
            return "has a component starting with '.' or ending with '.lock'"
    return ""


def check_legacy_name(name: str) -> None:
    """Refuse a legacy-name override that could point outside ``vendor/``."""
    if not name:
        return
    comps = name.split("/")
    if name.startswith("/") or "\\" in name or _CONTROL.search(name):
        raise ConfigError(f"name {name!r} must be a relative path without backslashes")
    if any(comp in ("", ".", "..") for comp in comps):
        raise ConfigError(f"name {name!r} must not contain '.', '..' or empty components")
