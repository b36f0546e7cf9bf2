"""An environment's output as :class:`Manifest` objects: the one place validation reads YAML.

Two sources give the same result: the ``{path: bytes}`` map a build is about to publish (so
``kpb build --validate`` checks before anything reaches ``manifests/<env>/``) and a directory on
disk (``kpb validate``). A file that does not parse, or a document that is not an object, is a
:class:`Finding`, never an exception: one broken file must not hide the problems of the others.

Messages about a file never quote its text: PyYAML's own message shows the offending line, and
that line may be a Secret's value. Only the problem's name and its line and column are kept.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import yaml

from kubeprom_build import safefs
from kubeprom_build.validation.findings import Finding, Manifest

CHECK = "documents"
#: Files read as manifests; everything else in the tree is ignored.
SUFFIXES = (".yaml", ".yml", ".json")
#: No manifest file is this large; a bigger one is refused, not read into memory.
MAX_FILE_BYTES = 64 << 20

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    """PyYAML's safe loader (libyaml when present), reading values as Kubernetes does.

    An unquoted ``2024-01-01`` stays a string (the API server's YAML-to-JSON step never makes
    dates), and a lone ``=`` is the string it looks like (PyYAML's ``value`` tag).
    """

    yaml_implicit_resolvers: ClassVar[dict[Any, list[tuple[str, Any]]]] = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in _BaseLoader.yaml_implicit_resolvers.items()
    }


Loader.add_constructor("tag:yaml.org,2002:value", Loader.construct_yaml_str)


@dataclass(frozen=True)
class Documents:
    """The objects of one environment and the problems met while reading them."""

    manifests: tuple[Manifest, ...]
    findings: tuple[Finding, ...]


def from_files(files: Mapping[str, bytes]) -> Documents:
    """Parse a rendered ``{relative path: bytes}`` map (paths are sorted first)."""
    manifests: list[Manifest] = []
    findings: list[Finding] = []
    for rel in sorted(files):
        if rel.endswith(SUFFIXES):
            _parse(rel, files[rel], manifests, findings)
    return Documents(tuple(manifests), tuple(findings))


def from_values(values: Mapping[str, Any], suffix: str = ".yaml") -> Documents:
    """The objects a build rendered its files from: ``{key: value}`` becomes ``key.yaml``.

    ``kpb build --validate`` uses this instead of parsing its own YAML again (about 0.6 s for
    kube-prometheus): the emitter's round trip is tested, so the files hold exactly these
    values.
    """
    manifests: list[Manifest] = []
    findings: list[Finding] = []
    for key in sorted(values):
        _collect(f"{key}{suffix}", [values[key]], manifests, findings)
    return Documents(tuple(manifests), tuple(findings))


def from_directory(root: Path) -> Documents:
    """Parse every manifest file below ``root`` without following a symlink.

    A link or a special file where a manifest could be is reported, not read: the output tree
    is kpb's, and a link planted in it must not make validation read elsewhere.
    """
    manifests: list[Manifest] = []
    findings: list[Finding] = []
    for rel, data, why in _walk(root):
        if data is None:
            findings.append(Finding.in_file(rel, f"not read: {why}", CHECK))
        else:
            _parse(rel, data, manifests, findings)
    return Documents(tuple(manifests), tuple(findings))


def _walk(root: Path) -> Iterator[tuple[str, bytes | None, str]]:
    """``(relative path, bytes or None, why not read)`` for manifest files, sorted."""
    fd = safefs.open_dir(root)
    try:
        yield from _walk_fd(fd, "")
    finally:
        os.close(fd)


def _walk_fd(fd: int, prefix: str) -> Iterator[tuple[str, bytes | None, str]]:
    entries = sorted(os.scandir(fd), key=lambda e: e.name)
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            sub = os.open(entry.name, safefs.DIR_FLAGS, dir_fd=fd)
            try:
                yield from _walk_fd(sub, f"{rel}/")
            finally:
                os.close(sub)
        elif not rel.endswith(SUFFIXES):
            continue
        elif not stat.S_ISREG(mode):
            yield rel, None, f"a {safefs.kind(mode)}, not a regular file"
        else:
            try:
                yield rel, safefs.read_beneath(fd, entry.name, limit=MAX_FILE_BYTES), ""
            except OSError as err:
                yield rel, None, os.strerror(err.errno) if err.errno else "unreadable"


def _parse(rel: str, data: bytes, manifests: list[Manifest], findings: list[Finding]) -> None:
    try:
        documents = list(yaml.load_all(data, Loader=Loader))
    except yaml.YAMLError as err:
        findings.append(Finding.in_file(rel, _yaml_problem(err), CHECK))
        return
    if b"*" in data and _shares_nodes(documents):
        findings.append(Finding.in_file(rel, _ALIASES, CHECK))
        return
    _collect(rel, documents, manifests, findings)


def _collect(
    rel: str, documents: list[Any], manifests: list[Manifest], findings: list[Finding]
) -> None:
    index = 0
    for number, document in enumerate(documents):
        if document is None:
            continue
        if not isinstance(document, dict):
            what = f"document {number + 1} is {_type_name(document)}, not a Kubernetes object"
            findings.append(Finding.in_file(rel, what, CHECK))
            continue
        for obj, path in _expand(document):
            if obj is None:
                findings.append(Finding.in_file(rel, f"{path} is not an object", CHECK))
                continue
            manifests.append(Manifest(rel, obj, index))
            index += 1


def _expand(document: dict[str, Any]) -> Iterator[tuple[dict[str, Any] | None, str]]:
    """The document itself, or the items of a ``List`` kind (``v1 List``, ``ConfigMapList``)."""
    kind = document.get("kind")
    items = document.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and isinstance(items, list)):
        yield document, "$"
        return
    for i, item in enumerate(items):
        yield (item if isinstance(item, dict) else None), f"$.items[{i}]"


_ALIASES = (
    "uses YAML aliases (*name) to repeat a mapping or list; kpb never writes them and "
    "expanding them can take exponential time, so the file is not validated"
)


def _shares_nodes(documents: list[Any]) -> bool:
    """True when a mapping or list is reached twice: an alias, as in a "billion laughs" file.

    PyYAML builds an alias as a reference to the same object (cheap), but a validator expands
    every reference into a copy. Run only for files containing ``*`` at all.
    """
    seen: set[int] = set()
    stack: list[Any] = list(documents)
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            if id(node) in seen:
                return True
            seen.add(id(node))
            stack.extend(node.values() if isinstance(node, dict) else node)
    return False


def _yaml_problem(err: yaml.YAMLError) -> str:
    """ "invalid YAML at line L, column C: PROBLEM", without the snippet PyYAML would quote."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or "cannot parse"
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML{where}: {_without_quotes(str(problem))}"


def _without_quotes(problem: str) -> str:
    """PyYAML names some offending characters or aliases in quotes; keep only the words."""
    head = problem.split("'", 1)[0].split('"', 1)[0].strip()
    return head or "cannot parse"


def _type_name(value: object) -> str:
    return {list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), f"a {type(value).__name__}"
    )
