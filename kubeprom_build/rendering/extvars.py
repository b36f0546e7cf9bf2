"""External variables and top-level arguments from the command line, files and the environment.

Values may be secrets (passwords, webhook URLs), so they live only in :class:`Variables` whose
repr hides them; kpb never prints, logs or stores a value, only names and a salted digest, and
every message that could quote one goes through :meth:`Variables.redactor`. The
flag forms follow the jsonnet CLI: ``--ext-str k=v``, ``--ext-str k`` (value from ``$k``),
``--ext-str-file k=path``, and the same for ``--ext-code`` and ``--tla-*``.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubeprom_build import safefs
from kubeprom_build.errors import ConfigError
from kubeprom_build.rendering.buildstate import framed_sha256
from kubeprom_build.rendering.redaction import Redactor, Secret, secrets_of

#: Flag name → (kind, is_code, from_file).
FLAGS: dict[str, tuple[str, bool, bool]] = {
    "--ext-str": ("ext", False, False),
    "--ext-str-file": ("ext", False, True),
    "--ext-code": ("ext", True, False),
    "--ext-code-file": ("ext", True, True),
    "--tla-str": ("tla", False, False),
    "--tla-str-file": ("tla", False, True),
    "--tla-code": ("tla", True, False),
    "--tla-code-file": ("tla", True, True),
}
#: Value files larger than this are refused unread (a secrets file is a few KiB).
MAX_VALUE_BYTES = 16 << 20
#: Deeper code is refused before an engine sees it: rjsonnet crashes at 10,000 levels.
MAX_CODE_NESTING = 1000


@dataclass(frozen=True)
class Variables:
    """Parsed ext vars and TLAs; values never appear in repr."""

    ext_vars: Mapping[str, str] = field(default_factory=dict, repr=False)
    ext_codes: Mapping[str, str] = field(default_factory=dict, repr=False)
    tla_vars: Mapping[str, str] = field(default_factory=dict, repr=False)
    tla_codes: Mapping[str, str] = field(default_factory=dict, repr=False)

    def names(self) -> dict[str, list[str]]:
        """Names per kind, for summaries (``--json``) that must not show values."""
        return {
            "ext_str": sorted(self.ext_vars),
            "ext_code": sorted(self.ext_codes),
            "tla_str": sorted(self.tla_vars),
            "tla_code": sorted(self.tla_codes),
        }

    def digest(self, salt: bytes) -> str:
        """A salted hash of names and values, so a stamp can tell a change without the value."""
        parts = (
            part.encode("utf-8")
            for kind, table in self._tables()
            for name in sorted(table)
            for part in (kind, name, table[name])
        )
        return framed_sha256(salt, parts)

    def redactor(self) -> Redactor:
        """What masks every form of every value in messages (see :mod:`redaction`)."""
        found: list[Secret] = []
        for kind, table in self._tables():
            flag = "--" + kind.replace("_", "-")
            for name, value in table.items():
                found.extend(secrets_of(f"{flag} {name}", value, code=kind.endswith("code")))
        return Redactor(found, given=any(table for _, table in self._tables()))

    def redact(self, text: str) -> str:
        """``text`` with every form of every value masked (builds the patterns each call)."""
        return self.redactor().redact(text)

    def _tables(self) -> list[tuple[str, Mapping[str, str]]]:
        return [
            ("ext_str", self.ext_vars),
            ("ext_code", self.ext_codes),
            ("tla_str", self.tla_vars),
            ("tla_code", self.tla_codes),
        ]


def parse_variables(
    specs: Sequence[tuple[str, str]], environ: Mapping[str, str] | None = None
) -> Variables:
    """Turn ``(flag, argument)`` pairs, in command-line order, into :class:`Variables`."""
    env = os.environ if environ is None else environ
    tables: dict[tuple[str, bool], dict[str, str]] = {
        (k, c): {} for k in ("ext", "tla") for c in (False, True)
    }
    seen: dict[tuple[str, str], str] = {}
    for flag, arg in specs:
        kind, code, from_file = FLAGS[flag]
        name, value = _parse_one(flag, arg, from_file, env)
        _check_text(flag, name, value)
        if code:
            check_code_nesting(flag, name, value)
        if (kind, name) in seen:
            raise ConfigError(f"{flag} {name}: already set by {seen[(kind, name)]}")
        seen[(kind, name)] = flag
        tables[(kind, code)][name] = value
    return Variables(
        ext_vars=tables[("ext", False)],
        ext_codes=tables[("ext", True)],
        tla_vars=tables[("tla", False)],
        tla_codes=tables[("tla", True)],
    )


def _check_text(flag: str, name: str, value: str) -> None:
    """Refuse a name or value that is not UTF-8 (an argument or environment variable with raw
    bytes arrives as lone surrogates): the engines take UTF-8, and the stamps' digest and
    every redaction pattern encode it. The value itself is never quoted."""
    for what, text in (("name", name), ("value", value)):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            shown = ascii(name) if what == "name" else name
            raise ConfigError(f"{flag} {shown}: the {what} is not UTF-8 text") from None


def _parse_one(flag: str, arg: str, from_file: bool, env: Mapping[str, str]) -> tuple[str, str]:
    name, sep, rest = arg.partition("=")
    if not name:
        raise ConfigError(f"{flag}: expected NAME=VALUE, got an empty name")
    if from_file:
        if not sep or not rest:
            raise ConfigError(f"{flag} {name}: expected {name}=PATH")
        return name, _read_value_file(flag, name, Path(rest))
    if sep:
        return name, rest
    if name not in env:
        raise ConfigError(
            f"{flag} {name}: no value given and environment variable {name} is not set"
        )
    return name, env[name]


def _read_value_file(flag: str, name: str, path: Path) -> str:
    """Read a value file the user named (a CLI argument is the user's own choice of path).

    Only a regular file of at most :data:`MAX_VALUE_BYTES` is read: it is opened without
    blocking and checked with ``fstat`` first, so ``/dev/zero``, a FIFO or a directory gets
    one line instead of a hang or an unbounded read.
    """
    try:
        return safefs.read_file(path, limit=MAX_VALUE_BYTES).decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{flag} {name}: file {path} does not exist") from None
    except safefs.NotRegularError:
        raise ConfigError(f"{flag} {name}: {path} is not a regular file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{flag} {name}: file {path} is not UTF-8 text") from None
    except OSError as err:
        if err.errno == errno.EFBIG:
            raise ConfigError(
                f"{flag} {name}: {path} is larger than {MAX_VALUE_BYTES >> 20} MiB"
            ) from None
        raise ConfigError(f"{flag} {name}: cannot read {path}: {err.strerror}") from None


def check_code_nesting(flag: str, name: str, code: str) -> None:
    """Refuse code nested deeper than :data:`MAX_CODE_NESTING` brackets.

    The engines parse every ``--ext-code`` value up front, and a deep enough value crashes
    them (measured: rjsonnet segfaults at 10,000 nested arrays, go-jsonnet aborts at
    100,000). Brackets inside strings and comments count too, which can only over-count;
    real code and JSON secrets nest a few dozen levels at most.
    """
    if sum(code.count(c) for c in "[{(") <= MAX_CODE_NESTING:
        return
    depth = deepest = 0
    for char in code:
        if char in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]})":
            depth = max(0, depth - 1)
    if deepest > MAX_CODE_NESTING:
        raise ConfigError(
            f"{flag} {name}: nested {deepest} levels deep; the limit is {MAX_CODE_NESTING}"
        )


_MISSING_EXT = re.compile(
    r"(?:undefined external variable|external variable is not defined): ?(\S+)", re.IGNORECASE
)
_MISSING_TLA = re.compile(
    r"(?:function parameter (\S+) not bound|Missing argument: (\S+)|"
    r"function argument is not passed: (\S+))"
)


def missing_variable(message: str) -> tuple[str, str] | None:
    """Recognise the engines' "variable not set" errors: ``("ext"|"tla", name)`` or None."""
    found = _MISSING_EXT.search(message)
    if found:
        return "ext", found.group(1)
    tla = _MISSING_TLA.search(message)
    if tla:
        return "tla", next(g for g in tla.groups() if g)
    return None
