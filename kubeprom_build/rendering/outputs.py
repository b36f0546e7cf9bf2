"""The multi-file output contract: jsonnet's JSON → ``{relative path: YAML bytes}``, checked.

An environment must evaluate to an object mapping file names to objects. Keys become paths under
``manifests/<env>/``, so each is checked to be a safe relative path, and no two may collide on a
case-insensitive disk or as file and directory. A broken value is reported by key and JSON path
with a short sample, because the full output of kube-prometheus is megabytes. When any external
variable or TLA was given, the sample shows only the structure: every string value is masked
(filtering cannot catch every way jsonnet code transforms a secret), and the whole message goes
through the :class:`~kubeprom_build.rendering.redaction.Redactor` for keys and paths.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from kubeprom_build.errors import BuildError
from kubeprom_build.jsonvalues import a_type_name
from kubeprom_build.rendering import yamlemit
from kubeprom_build.rendering.redaction import MASK, Redactor

_SAMPLE_LINES = 10
#: JSON leaves these unescaped, but terminals and editors break lines at them.
_LINE_BREAKS = str.maketrans({"\u0085": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def output_files(env: str, data: object, redactor: Redactor | None = None) -> dict[str, bytes]:
    """Check the multi-file contract and render each value to YAML bytes.

    ``redactor`` knows the secrets of this build; without one, samples show values as they are.
    """
    secrets = redactor or Redactor()
    try:
        return _output_files(env, data, secrets)
    except BuildError as err:  # keys, paths and reasons may quote a secret too
        raise BuildError(secrets.redact(str(err))) from None


def _output_files(env: str, data: object, secrets: Redactor) -> dict[str, bytes]:
    if not isinstance(data, dict):
        raise BuildError(
            f"environment {env!r}: the output must be an object mapping file names to "
            f"manifests, got {a_type_name(data)}\n{_sample(data, secrets)}"
        )
    files: dict[str, bytes] = {}
    for key, value in data.items():
        rel = output_path(env, key) + ".yaml"  # the key is checked before its value
        files[rel] = _render(env, key, value, secrets)
    check_collisions(env, files)
    return files


def _render(env: str, key: str, value: object, secrets: Redactor) -> bytes:
    """One value as YAML; it must be an object (a Kubernetes object or a List)."""
    if not isinstance(value, dict):
        raise BuildError(
            f"environment {env!r}: key {key!r} must be an object (a Kubernetes object or a "
            f"List), got {a_type_name(value)}\n{_sample(value, secrets)}"
        )
    try:
        return yamlemit.dumps(value).encode("utf-8")
    except yamlemit.UnrepresentableError as err:
        raise BuildError(
            f"environment {env!r}: key {key!r} at {yamlemit.json_path(err.path)}: {err}\n"
            f"{_sample(_context(value, err.path), secrets)}"
        ) from None


def output_path(env: str, key: str) -> str:
    """Check one output key (it becomes a path under manifests/<env>/)."""
    bad = _bad_key_reason(key)
    if bad:
        raise BuildError(f"environment {env!r}: output key {key!r} {bad}")
    return key


def _bad_key_reason(key: str) -> str | None:
    """Why ``key`` is not a safe path relative to the output folder, or None."""
    if not key:
        return "is empty"
    if "\x00" in key or "\\" in key:
        return "contains a NUL or backslash"
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in key):
        return "contains a control character"
    if key.startswith("/") or key.startswith("~"):
        return "is an absolute path"
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "has an empty, '.' or '..' path component"
    if any(len(p.encode("utf-8")) > 250 for p in parts):
        return "has a path component longer than 250 bytes"
    return None


def check_collisions(env: str, files: Mapping[str, bytes]) -> None:
    """Refuse two outputs that would be one file on a case-insensitive disk (or file vs dir)."""
    seen: dict[str, str] = {}
    for rel in sorted(files):
        folded = rel.casefold()
        if folded in seen:
            raise BuildError(
                f"environment {env!r}: outputs {seen[folded]!r} and {rel!r} differ only in case"
            )
        seen[folded] = rel
    for rel in files:
        parts = rel.casefold().split("/")
        for i in range(1, len(parts)):
            prefix = "/".join(parts[:i])
            if prefix in seen:
                raise BuildError(
                    f"environment {env!r}: output {seen[prefix]!r} is also used as a "
                    f"directory by {rel!r}"
                )


def _at(value: object, path: Sequence[str | int]) -> object:
    for step in path:
        try:
            value = value[step]  # type: ignore[index]
        except (KeyError, IndexError, TypeError):
            break
    return value


def _context(value: object, path: Sequence[str | int]) -> object:
    """The object or array holding the bad value (a bare scalar says little on its own)."""
    found = _at(value, path)
    if isinstance(found, dict | list) or not path:
        return found
    return _at(value, path[:-1])


def _sample(value: object, secrets: Redactor) -> str:
    """At most ten lines of ``value`` as JSON, to show where the problem is.

    With variables given, every string is shown as ``***``: keys, numbers, booleans, nulls and
    array lengths stay, so the shape is still recognisable.
    """
    shown = _structure(value) if secrets.given else value
    text = json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True)
    lines = text.translate(_LINE_BREAKS).split("\n")
    if len(lines) > _SAMPLE_LINES:
        lines = [*lines[: _SAMPLE_LINES - 1], "  ..."]
    return secrets.redact("\n".join(f"  | {ln}" for ln in lines))


def _structure(value: object) -> object:
    """``value`` with every string value replaced by :data:`MASK` (keys are kept)."""
    if isinstance(value, str):
        return MASK
    if isinstance(value, dict):
        return {k: _structure(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_structure(v) for v in value]
    return value
