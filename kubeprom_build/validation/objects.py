"""Small reads the domain checks share: picking objects by kind, JSON paths, Secret payloads.

Checks read objects that a schema check may already have rejected, so every read here is
tolerant: a value of the wrong type reads as absent and the check moves on (the schema check,
not the domain check, reports the type). Secret payloads are returned as text for parsing and
must never reach a message: they hold webhook URLs and passwords.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import yaml

from kubeprom_build.validation.findings import Manifest

#: What PyYAML quotes from the text in its messages: a tag, an alias, a character found.
_YAML_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,39}")
_SHOWN_TEXT = 100
# Prometheus's model.ParseDuration: units in descending order, each at most once, integers only.
_DURATION = re.compile(r"0|([0-9]+y)?([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?([0-9]+ms)?")


def member(path: str, key: object) -> str:
    """``$.a`` + ``b`` → ``$.a.b``; other keys are quoted (``$.data['x.json']``), indexes bare."""
    if isinstance(key, int) and not isinstance(key, bool):
        return f"{path}[{key}]"
    key = str(key)
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    quoted = key.replace("\\", "\\\\").replace("'", "\\'")
    return f"{path}['{quoted}']"


def of_kind(manifests: Sequence[Manifest], kind: str, group: str) -> Iterator[Manifest]:
    """The manifests of ``kind`` in API ``group`` (any version; ``""`` is the core group)."""
    for manifest in manifests:
        api = manifest.obj.get("apiVersion")
        if manifest.obj.get("kind") != kind or not isinstance(api, str):
            continue
        if (api.rpartition("/")[0] if "/" in api else "") == group:
            yield manifest


def mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def name_of(manifest: Manifest) -> str | None:
    name = mapping(manifest.obj.get("metadata")).get("name")
    return name if isinstance(name, str) else None


def secret_entries(manifest: Manifest) -> Iterator[tuple[str, str, str | None]]:
    """Every key of a Secret as ``(key, JSON path, text)``; text is None when it is not decodable.

    ``stringData`` wins over ``data`` for the same key, as the API server merges them.
    """
    seen: set[str] = set()
    for key, value in mapping(manifest.obj.get("stringData")).items():
        if isinstance(key, str):
            seen.add(key)
            text = value if isinstance(value, str) else None
            yield key, member("$.stringData", key), text
    for key, value in mapping(manifest.obj.get("data")).items():
        if isinstance(key, str) and key not in seen:
            yield key, member("$.data", key), _decoded(value)


def _decoded(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8
        return None


def duration_error(value: Any) -> str | None:
    """Why ``value`` is not a Prometheus duration (``1h30m``, ``0``), or None.

    Prometheus and Alertmanager share this grammar (``model.ParseDuration``). The message never
    quotes the value: in an Alertmanager config every value but names and matchers stays unsaid.
    """
    if not isinstance(value, str):
        return "a duration must be a string such as '5m'"
    if not value:
        return "empty duration"
    if not _DURATION.fullmatch(value):
        return "invalid duration: whole numbers with units y, w, d, h, m, s, ms, largest first"
    return None


def looks_like_name(value: Any) -> bool:
    """Letters, digits and ``_.:-``, at most 40 characters: a receiver or label name, not a URL.

    A value in the wrong place of a config (a webhook URL pasted as a receiver name) is not a
    name, so messages about secrets-holding configs quote only what passes this test.
    """
    return isinstance(value, str) and _NAME.fullmatch(value) is not None


def shown(value: Any) -> str:
    """``'name'`` when ``value`` looks like a name, else a placeholder."""
    return repr(value) if looks_like_name(value) else "(a value not shown)"


def shown_text(value: str) -> str:
    """A matcher's text quoted, unless it is long or holds a URL (then a placeholder)."""
    return repr(value) if len(value) <= _SHOWN_TEXT and "://" not in value else "(not shown)"


def yaml_failure(error: BaseException, quoted: bool = False) -> str:
    """Why a YAML document did not load, as `` at line L, column C: reason``, never its text.

    PyYAML's messages quote what they stumbled on: an unquoted password such as ``!Hunter2``
    or ``*Hunter2`` reads as a tag or an alias and would be quoted in full, so every quoted
    part is dropped (unless ``quoted``: the caller's own message). Input nested too deeply
    (RecursionError) or an integer beyond Python's digit limit (ValueError) is named as such.
    """
    if isinstance(error, RecursionError):
        return ": nested too deeply"
    if isinstance(error, ValueError):
        return ": a number with too many digits"
    if not isinstance(error, yaml.MarkedYAMLError):
        return ""
    mark = error.problem_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    problem = str(error.problem or "")
    return f"{where}: {problem if quoted else _YAML_QUOTED.sub('…', problem)}"
