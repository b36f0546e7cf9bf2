"""Render JSON values as YAML text byte-identical to ``gojsontoyaml`` v0.1.0 (go-yaml v2.4.0).

kube-prometheus pipes every jsonnet output document through ``gojsontoyaml``, which parses the
JSON *as YAML* with go-yaml v2 and re-emits it. go-yaml's emitter is a port of libyaml, so the
layout work is handed to PyYAML's libyaml ``CEmitter``; this module only makes the decisions
go-yaml makes before the emitter runs: the key order (go-yaml's "natural" sort), the number
text (Go ``strconv.FormatFloat``), and which strings must be double-quoted because go-yaml would
otherwise read them back as something else (its YAML 1.1 resolver, which is not PyYAML's).
Values gojsontoyaml itself mangles are refused instead of reproduced.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections.abc import Callable, Iterable

from yaml.events import (
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from kubeprom_build.errors import BuildError

try:
    from yaml._yaml import CEmitter
except ImportError:  # pragma: no cover - PyYAML wheels always ship libyaml
    CEmitter = None  # type: ignore[assignment,misc]

__all__ = ["UnrepresentableError", "dumps", "json_path"]

JsonPath = tuple[str | int, ...]


class UnrepresentableError(BuildError):
    """A value outside the contract (raw U+0085/U+2028/U+2029, leading U+FEFF, key with line
    break or > 128 bytes, NaN/inf, non-str key ...)."""

    path: JsonPath

    def __init__(self, message: str, path: JsonPath = ()) -> None:
        super().__init__(message)
        self.path = path


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def json_path(path: JsonPath) -> str:
    """Spell a JSON path the way people read it (``spec.containers[0]["app.kubernetes.io/x"]``)."""
    parts: list[str] = []
    for item in path:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif _IDENTIFIER.fullmatch(item):
            parts.append(f".{item}" if parts else item)
        else:
            escaped = item.replace("\\", "\\\\").replace('"', '\\"')
            parts.append(f'["{escaped}"]')
    return "".join(parts) or "(root)"


class _Reject(Exception):
    """Internal: carries the reason up while each level prepends its path component."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reversed_path: list[str | int] = []


# --- go-yaml v2 resolve(): would this string, written plain, read back as a non-string? -----

_RESOLVE_MAP = frozenset(
    (
        *("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"),
        *("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"),
        *("~", "null", "Null", "NULL", ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF"),
        *("+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF"),
    )
)
_HINTED = frozenset("+-0123456789yYnNtTfFoO~.")
_NUMERIC_START = frozenset("+-0123456789")
_YAML_STYLE_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_GO_DOT_FLOAT = re.compile(r"\.[0-9]+(?:_[0-9]+)*(?:[eE][-+]?[0-9]+(?:_[0-9]+)*)?")
_BASE60_FLOAT = re.compile(r"[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?")
_TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?)"
    r"(?:([Tt]| +)([0-9][0-9]?):([0-9][0-9]?):([0-9][0-9]?)(?:[.,][0-9]+)?"
    r"(Z|[-+][0-9][0-9]:[0-9][0-9])?)?"
)
_INT_DIGITS = {
    2: re.compile(r"[01]*"),
    8: re.compile(r"[0-7]*"),
    10: re.compile(r"[0-9]*"),
    16: re.compile(r"[0-9a-fA-F]*"),
}
_SIGNED_LIMIT = {"": 2**64 - 1, "+": 2**63 - 1, "-": 2**63}
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _needs_double_quotes(s: str) -> bool:
    """go-yaml quotes a string when its resolver (or the base-60 check) gives a non-string."""
    if not s:
        return True
    first = s[0]
    if first not in _HINTED:
        return False
    if s in _RESOLVE_MAP:
        return True
    if first == ".":
        return _GO_DOT_FLOAT.fullmatch(s) is not None and _finite(s.replace("_", ""))
    if first in _NUMERIC_START:
        return _is_go_number_or_time(s) or (":" in s and _BASE60_FLOAT.fullmatch(s) is not None)
    return False


def _is_go_number_or_time(s: str) -> bool:
    """The 'D'/'S' branch of go-yaml resolve: timestamp, int, YAML-style float, 0b-int."""
    if _is_go_timestamp(s):
        return True
    plain = s.replace("_", "")
    if _is_go_int(plain):
        return True
    if _YAML_STYLE_FLOAT.fullmatch(plain) and _finite(plain):
        return True
    if plain.startswith("0b"):
        rest = plain[2:]
        sign = rest[:1] if rest[:1] in ("+", "-") else ""
        return _in_range(sign, rest[len(sign) :], 2)
    return False


def _finite(text: str) -> bool:
    """Go's ParseFloat fails (so the string stays a string) when the value overflows."""
    return not math.isinf(float(text))


def _is_go_int(s: str) -> bool:
    """``strconv.ParseInt(s, 0, 64)`` or ``ParseUint(s, 0, 64)`` succeeds."""
    sign = s[:1] if s[:1] in ("+", "-") else ""
    body = s[len(sign) :]
    if not body:
        return False
    base = 10
    if body[0] == "0":
        prefix = body[1:2].lower()
        if len(body) >= 3 and prefix in ("b", "o", "x"):
            base = {"b": 2, "o": 8, "x": 16}[prefix]
            body = body[2:]
        else:
            base = 8
            body = body[1:]
            if not body:
                return True
    return _in_range(sign, body, base)


def _in_range(sign: str, digits: str, base: int) -> bool:
    """Valid non-empty digits for ``base`` whose value fits what Go accepts for ``sign``."""
    if not digits or _INT_DIGITS[base].fullmatch(digits) is None:
        return False
    significant = digits.lstrip("0")
    if len(significant) > 64:
        return False
    return int(significant or "0", base) <= _SIGNED_LIMIT[sign]


def _is_go_timestamp(s: str) -> bool:
    """go-yaml's parseTimestamp: Go ``time.Parse`` with its four layouts, ranges included."""
    match = _TIMESTAMP.fullmatch(s)
    if match is None:
        return False
    year, month, day, sep, hour, minute, second, zone = match.groups()
    # "T"/"t" layouts end in a zone; the space layout (one or more spaces: Go's skip) has none.
    if sep is not None and (zone is None) != sep.startswith(" "):
        return False
    if not 1 <= int(month) <= 12 or not 1 <= int(day) <= _days_in(int(month), int(year)):
        return False
    if sep is not None and (int(hour) > 23 or int(minute) > 59 or int(second) > 59):
        return False
    return zone is None or zone == "Z" or (int(zone[1:3]) <= 24 and int(zone[4:6]) <= 60)


def _days_in(month: int, year: int) -> int:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]


# --- numbers ----------------------------------------------------------------------------------

_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1


def format_int(value: int) -> str:
    """go-yaml keeps int64/uint64 integers, anything wider was parsed as a float64."""
    if _INT_MIN <= value <= _UINT_MAX:
        return str(value)
    try:
        return format_float(float(value))
    except OverflowError:
        # ParseFloat fails too, so go-yaml kept the digits as a (plain) string.
        return str(value)


def format_float(value: float) -> str:
    """Go ``strconv.FormatFloat(value, 'g', -1, 64)`` for finite values."""
    if value == 0.0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    digits, point = _shortest_digits(abs(value))
    sign = "-" if value < 0 else ""
    exponent = point - 1
    if exponent < -4 or exponent >= 6:  # Go: eprec = 6 when the precision is "shortest"
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def _shortest_digits(value: float) -> tuple[str, int]:
    """Shortest round-trip decimal digits (no leading/trailing zeros) and the point position.

    ``repr`` gives the same shortest digits as Go's ``-1`` precision; ``0.d1d2… × 10**point``.
    """
    mantissa, _, exp_text = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    raw = whole + fraction
    point = len(whole) + (int(exp_text) if exp_text else 0)
    stripped = raw.lstrip("0")
    point -= len(raw) - len(stripped)
    return stripped.rstrip("0"), point


# --- key order ---------------------------------------------------------------------------------

# Keys made only of ASCII letters and non-digit characters below "A" sort the same under
# go-yaml's natural order and plain code-point order.
_CODEPOINT_SAFE_KEYS = re.compile(r"[A-Za-z\x00-/:-@]*")


def sort_keys(keys: Iterable[str]) -> list[str]:
    """Keys in go-yaml v2 ``keyList.Less`` order (stable sort, so inconsistent sets are fixed)."""
    ordered = sorted(keys)
    if _CODEPOINT_SAFE_KEYS.fullmatch("".join(ordered)):
        return ordered
    return sorted(ordered, key=_NATURAL_KEY)


def _go_key_less(a: str, b: str) -> bool:
    """go-yaml v2 sorter.go ``keyList.Less`` for two string keys, quirks included."""
    for i, (ca, cb) in enumerate(zip(a, b, strict=False)):
        if ca == cb:
            continue
        a_letter, b_letter = ca.isalpha(), cb.isalpha()
        if a_letter and b_letter:
            return ca < cb
        if a_letter or b_letter:
            return b_letter
        start = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and a[j].isdecimal():
                if a[j] != "0":
                    start = 1
                    break
                j -= 1
        a_num, a_end = _digit_run(a, i, start)
        b_num, b_end = _digit_run(b, i, start)
        if a_num != b_num:
            return a_num < b_num
        if a_end != b_end:
            return a_end < b_end
        return ca < cb
    return len(a) < len(b)


def _digit_run(s: str, i: int, start: int) -> tuple[int, int]:
    """Go's ``n = n*10 + int64(r-'0')`` over ``unicode.IsDigit`` runes, int64 wrap-around kept."""
    n = start
    while i < len(s) and s[i].isdecimal():
        n = (n * 10 + ord(s[i]) - 48 + 2**63) % 2**64 - 2**63
        i += 1
    return n, i


def _go_key_cmp(a: str, b: str) -> int:
    if _go_key_less(a, b):
        return -1
    return 0 if a == b else 1


_NATURAL_KEY = functools.cmp_to_key(_go_key_cmp)


# --- strings -----------------------------------------------------------------------------------

# Raw NEL/LS/PS are line breaks to go-yaml's parser and get folded; lone surrogates are not text.
_FORBIDDEN = re.compile("[\x85\u2028\u2029\ud800-\udfff]")
_KEY_BREAKS = re.compile("[\r\n]")


def _string_style(s: str) -> str | None:
    """The style go-yaml asks the emitter for; libyaml downgrades it exactly like go-yaml."""
    bad = _FORBIDDEN.search(s)
    if bad is not None:
        raise _Reject(_forbidden_reason(bad.group()))
    if s[:1] == "\ufeff":
        raise _Reject("string starts with U+FEFF (byte order mark), which gojsontoyaml corrupts")
    if "\n" in s:
        return "|"
    return '"' if _needs_double_quotes(s) else None


def _forbidden_reason(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if "\ud800" <= char <= "\udfff":
        return f"string contains a lone surrogate ({code}), which is not valid UTF-8"
    return (
        f"string contains {code}, a YAML line break that gojsontoyaml folds into a space;"
        " write it another way (e.g. as a plain newline)"
    )


def _check_key(key: object) -> str:
    """Keys go-yaml would write as ``? key`` (complex) or cannot write at all are refused."""
    if not isinstance(key, str):
        raise _Reject(f"mapping key {key!r} is not a string")
    if _KEY_BREAKS.search(key):
        raise _Reject(f"mapping key {key!r} contains a line break")
    if len(key) > 32 and len(key.encode("utf-8", "surrogatepass")) > 128:
        # Not quoted: the path already names it in full, where the secret redactor can
        # recognise it; a truncated copy could show most of a secret no pattern matches.
        size = len(key.encode("utf-8", "surrogatepass"))
        raise _Reject(f"mapping key is longer than 128 bytes ({size} bytes)")
    return key if type(key) is str else str(key)


# --- event generation --------------------------------------------------------------------------
# Events are cached and reused: libyaml copies what it needs from an event when it is emitted.
# Manifests repeat the same keys, key sets and short values thousands of times.

_Emit = Callable[[Event], None]
_IMPLICIT = (True, True)
_MAP_START = MappingStartEvent(None, None, True, flow_style=False)
_MAP_EMPTY = MappingStartEvent(None, None, True, flow_style=True)
_MAP_END = MappingEndEvent()
_SEQ_START = SequenceStartEvent(None, None, True, flow_style=False)
_SEQ_EMPTY = SequenceStartEvent(None, None, True, flow_style=True)
_SEQ_END = SequenceEndEvent()
_CACHED_STRING_LENGTH = 200


def _scalar(text: str, style: str | None) -> ScalarEvent:
    return ScalarEvent(None, None, _IMPLICIT, text, None, None, style)


def _new_string_event(s: str) -> ScalarEvent:
    return _scalar(s, _string_style(s))


_cached_string_event = functools.lru_cache(maxsize=16384)(_new_string_event)


@functools.lru_cache(maxsize=4096)
def _int_event(value: int) -> ScalarEvent:
    return _scalar(_int_text(value), None)


@functools.lru_cache(maxsize=2048)
def _mapping_layout(keys: tuple[object, ...]) -> tuple[tuple[str, ScalarEvent], ...]:
    """Checked keys in go-yaml order, each with its ready-made key event."""
    events = {}
    for key in keys:
        try:
            checked = _check_key(key)
            events[checked] = _cached_string_event(checked)
        except _Reject as reject:
            reject.reversed_path.append(key if isinstance(key, str) else repr(key))
            raise
    return tuple((key, events[key]) for key in sort_keys(events))


_ATOM_EVENTS = {True: _scalar("true", None), False: _scalar("false", None)}
_NULL_EVENT = _scalar("null", None)


class _Writer:
    """Walks a JSON value and feeds libyaml the matching events."""

    def __init__(self, emit: _Emit) -> None:
        self.emit = emit

    def value(self, value: object) -> None:
        kind = type(value)
        if kind is str:
            if len(value) <= _CACHED_STRING_LENGTH:  # type: ignore[arg-type]
                self.emit(_cached_string_event(value))
            else:
                self.emit(_new_string_event(value))  # type: ignore[arg-type]
        elif kind is dict:
            self.mapping(value)  # type: ignore[arg-type]
        elif kind is list:
            self.sequence(value)  # type: ignore[arg-type]
        elif kind is int:
            self.emit(_int_event(value))
        elif kind is bool:
            self.emit(_ATOM_EVENTS[value])  # type: ignore[index]
        elif value is None:
            self.emit(_NULL_EVENT)
        elif isinstance(value, str | dict | list):
            self.value(_exact(value))  # a subclass: not from json.loads, but still JSON
        else:
            self.emit(_scalar(_atom_text(value), None))

    def mapping(self, mapping: dict[object, object]) -> None:
        emit = self.emit
        if not mapping:
            emit(_MAP_EMPTY)
            emit(_MAP_END)
            return
        emit(_MAP_START)
        for key, event in _mapping_layout(tuple(mapping)):
            emit(event)
            try:
                self.value(mapping[key])
            except _Reject as reject:
                reject.reversed_path.append(key)
                raise
        emit(_MAP_END)

    def sequence(self, items: list[object]) -> None:
        self.emit(_SEQ_START if items else _SEQ_EMPTY)
        for index, item in enumerate(items):
            try:
                self.value(item)
            except _Reject as reject:
                reject.reversed_path.append(index)
                raise
        self.emit(_SEQ_END)


def _exact(value: str | dict[object, object] | list[object]) -> object:
    if isinstance(value, str):
        return str(value)
    return dict(value) if isinstance(value, dict) else list(value)


def _int_text(value: int) -> str:
    try:
        return format_int(value)
    except ValueError as err:  # more digits than Python converts to text
        raise _Reject(f"integer is too large: {err}") from None


def _atom_text(value: object) -> str:
    """Text of a non-string leaf; subclasses (and anything not from json.loads) land here."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return _int_text(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise _Reject(f"number {value!r} has no JSON form")
        return format_float(value)
    raise _Reject(f"{type(value).__name__} is not a JSON value")


def dumps(document: object) -> str:
    """YAML text (ending in exactly one \\n) for a JSON value as produced by json.loads of
    engine output. Only a string ending in blank lines written last (a ``|+`` block) adds its
    own empty lines after that, exactly as gojsontoyaml does."""
    if CEmitter is None:  # pragma: no cover
        raise BuildError("PyYAML was installed without libyaml; reinstall PyYAML from a wheel")
    out = io.StringIO()
    emitter = CEmitter(out, indent=2, width=-1, allow_unicode=True)
    emitter.emit(StreamStartEvent())
    emitter.emit(DocumentStartEvent(explicit=False))
    try:
        _Writer(emitter.emit).value(document)
    except _Reject as reject:
        raise UnrepresentableError(str(reject), tuple(reversed(reject.reversed_path))) from None
    emitter.emit(DocumentEndEvent(explicit=False))
    emitter.emit(StreamEndEvent())
    text = out.getvalue()
    # libyaml ends the stream with "..." after a trailing "|+" block; go-yaml does not.
    return text[:-4] if text.endswith("\n...\n") else text
