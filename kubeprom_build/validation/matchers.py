"""Alertmanager's label matchers: its grammar, its regex engine and how they match an alert.

Alertmanager reads ``matchers: ['severity =~ "warning|info"']`` with its own small parser
(``pkg/labels/parse.go``, the "classic" one every release accepts) and anchors regexes as
``^(?:…)$`` in Go's RE2 syntax. Python's ``re`` accepts look-arounds RE2 rejects and rejects
``\\pL`` RE2 accepts, so regexes compile with ``google-re2``, the same engine. Errors carry no
text of the matcher (the caller decides what of it may be shown; a config holds secrets).

Not covered: the UTF-8 matcher parser of Alertmanager ≥ 0.27 also takes quoted label names
(``"service.name"="x"``); they are reported here as bad matchers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import re2

_SPACE = r"[\t\n\f\r ]*"  # Go's \s
_LINE = re.compile(
    rf"^{_SPACE}([a-zA-Z_:][a-zA-Z0-9_:]*){_SPACE}(=~|=|!=|!~){_SPACE}(.*?){_SPACE}$", re.DOTALL
)
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
OPERATORS = ("=", "!=", "=~", "!~")
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # RE2 would otherwise write every rejected pattern to stderr


class MatcherError(ValueError):
    """A matcher Alertmanager refuses: a generic reason, and RE2's detail for a bad regex.

    The detail quotes part of the pattern, so it is shown only where the pattern may be.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.detail = detail


@dataclass(frozen=True)
class Matcher:
    """``name op value``; a regex matcher holds its compiled, anchored pattern."""

    name: str
    op: str
    value: str
    pattern: object = field(default=None, compare=False, repr=False)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Alertmanager's semantics: a missing label is the empty string."""
        actual = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (actual == self.value) == (self.op == "=")
        hit = self.pattern.fullmatch(actual) is not None  # type: ignore[attr-defined]
        return hit == (self.op == "=~")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'


def compile_regex(value: str) -> object:
    """The anchored RE2 pattern for a regex matcher value; :class:`MatcherError` if invalid."""
    try:
        return re2.compile(f"^(?:{value})$", _OPTIONS)
    except re2.error as error:
        detail = error.args[0] if error.args else ""
        text = detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
        raise MatcherError("invalid regex", text) from None


def new_matcher(name: str, op: str, value: str) -> Matcher:
    """A matcher from parts (``match``/``match_re`` maps, AlertmanagerConfig objects)."""
    if op not in OPERATORS:
        raise MatcherError(f"unknown match type (one of {', '.join(OPERATORS)})")
    pattern = compile_regex(value) if op in ("=~", "!~") else None
    return Matcher(name, op, value, pattern)


def parse_matchers(text: str) -> list[Matcher]:
    """One ``matchers`` entry: ``a=b``, ``{a="b", c=~"d|e"}`` (Alertmanager's ``ParseMatchers``)."""
    text = text.removeprefix("{").removesuffix("}")
    tokens, token, quoted, escaped = [], "", False, False
    for char in text:
        if char == "," and not quoted:
            tokens.append(token)
            token = ""
            continue
        if char == '"':
            quoted = quoted != (not escaped)
            escaped = False
        elif char == "\\":
            escaped = not escaped
        else:
            escaped = False
        token += char
    if token.strip():
        tokens.append(token)
    return [parse_matcher(token) for token in tokens]


def parse_matcher(text: str) -> Matcher:
    """One ``name op value`` with Alertmanager's quoting and escapes (``ParseMatcher``)."""
    found = _LINE.match(text)
    if not found:
        raise MatcherError("bad matcher format")
    name, op, raw = found.groups()
    return new_matcher(name, op, _unquoted(raw))


def _unquoted(raw: str) -> str:
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    value, escaped = [], False
    for index, char in enumerate(body):
        if escaped:
            escaped = False
            value.append({"n": "\n", '"': '"', "\\": "\\"}.get(char, "\\" + char))
        elif char == "\\" and index < len(body) - 1:
            escaped = True
        elif char == '"':
            if not quoted or index < len(body) - 1:
                raise MatcherError("matcher value contains unescaped double quote")
            quoted = False
        else:
            value.append(char)
    if quoted:
        raise MatcherError("matcher value contains unescaped double quote")
    return "".join(value)
