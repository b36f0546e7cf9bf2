"""Know every form a secret value can take in kpb's messages, and mask all of them.

External variables and TLAs may hold passwords and webhook URLs (the README's inline secrets mode
passes a whole JSON file of them). An engine error or a diff can quote such a value not only as
it is, but JSON-escaped (once or twice), Python-repr'd, YAML-escaped, split across lines, without
its trailing newline, or base64-encoded (every Kubernetes Secret ``data`` field), possibly in the
middle of a longer base64 string. A :class:`Redactor` knows each secret *string*: the whole
value of a string variable, each string leaf of a code variable (parsed as JSON, else the string
literals of the jsonnet code) and the raw code text. It builds one pattern per form that accepts
every escaping of every character, so it does not depend on which engine escaped what.

Forms shorter than :data:`MIN_LENGTH` are not masked inside words (that would shred ordinary
text); a secret string that short makes :attr:`Redactor.short` non-empty, and callers then hide
free text (engine messages) entirely instead of filtering it.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

#: Secret strings (and encoded forms) shorter than this cannot be masked inside text reliably.
MIN_LENGTH = 4
MASK = "***"
#: Longer values get only their literal forms (the per-character patterns grow with the value).
_PATTERN_LIMIT = 4096
_ESCAPES: dict[str, tuple[str, ...]] = {
    '"': ('\\"',),
    "\\": ("\\\\",),
    "/": ("\\/",),
    "'": ("\\'", "''"),  # jsonnet/Python escapes; YAML single-quoted style doubles it
    "\b": ("\\b",),
    "\f": ("\\f",),
    "\n": ("\\n",),
    "\r": ("\\r",),
    "\t": ("\\t",),
    "\x00": ("\\0",),
    "\x07": ("\\a",),
    "\x0b": ("\\v",),
    "\x1b": ("\\e",),
    "\x85": ("\\N",),  # YAML double-quoted escapes
    "\xa0": ("\\_",),
    "\u2028": ("\\L",),
    "\u2029": ("\\P",),
}
_WORD = "A-Za-z0-9"


@dataclass(frozen=True)
class Secret:
    """One secret string and where it came from (``--ext-str pw``), for messages."""

    origin: str
    text: str


def secrets_of(origin: str, value: str, code: bool) -> list[Secret]:
    """The secret strings in one variable: the value, or for code its string leaves and text."""
    if not code:
        return [Secret(origin, value)]
    found = [Secret(origin, s) for s in _code_strings(value)]
    stripped = value.strip()
    if len(stripped) >= MIN_LENGTH:  # the code text itself (a short one is not a string secret)
        found.append(Secret(origin, value))
    return found


class Redactor:
    """Masks every form of the given secrets; ``given`` says whether any variable was set at all."""

    def __init__(self, secrets: Iterable[Secret] = (), given: bool = False) -> None:
        self.given = given
        texts: dict[str, None] = {}
        short: dict[str, None] = {}
        short_texts: dict[str, None] = {}
        for secret in secrets:
            core = secret.text.strip()
            if 0 < len(core) < MIN_LENGTH:
                short[secret.origin] = None
                short_texts[core] = None
            texts.update(dict.fromkeys(v for v in _variants(secret.text) if len(v) >= MIN_LENGTH))
        #: Origins of secret strings shorter than MIN_LENGTH: free text cannot be made safe.
        self.short: tuple[str, ...] = tuple(short)
        self._short_texts = sorted(short_texts)
        self._texts = sorted(texts, key=len, reverse=True)
        self._patterns: list[re.Pattern[str]] | None = None

    def redact(self, text: str) -> str:
        """``text`` with every form of every secret replaced by :data:`MASK`.

        Forms of :data:`MIN_LENGTH` characters or more are masked wherever they occur; shorter
        secrets only where they stand alone (not inside a word or number).
        """
        if not self._texts and not self._short_texts:
            return text
        for _ in range(3):  # a mask next to other text can complete another form: look again
            spans = sorted(self._spans(text))
            if not spans:
                return text
            text = _mask(text, spans)
        return MASK  # still not clean (secrets made of '*'): show nothing

    def _spans(self, text: str) -> Iterator[tuple[int, int]]:
        for pattern in self._compiled():
            for found in pattern.finditer(text):
                if found.end() > found.start():
                    yield found.start(), found.end()

    def _compiled(self) -> list[re.Pattern[str]]:
        if self._patterns is None:
            patterns = {_pattern(t) for t in self._texts}
            patterns.update(_literal(b) for t in self._texts for b in _base64_forms(t))
            patterns.update(f"(?<![{_WORD}]){_pattern(t)}(?![{_WORD}])" for t in self._short_texts)
            self._patterns = [re.compile(p) for p in sorted(patterns, key=len, reverse=True)]
        return self._patterns


def _variants(value: str) -> list[str]:
    """The value, trimmed, each of its lines, and the JSON escapes of each as engines write them."""
    bases = [value, value.rstrip("\n"), value.rstrip("\r\n"), value.strip()]
    lines = value.splitlines()
    if len(lines) > 1:
        bases.extend(line.strip() for line in lines)
    found = list(bases)
    for base in dict.fromkeys(bases):
        found.append(json.dumps(base, ensure_ascii=True)[1:-1])
        found.extend(_json_escape(base, extra) for extra in _ESCAPED_BY_ENGINES)
    return list(dict.fromkeys(found))


#: Characters escaped as \uXXXX besides the controls: none (Python's json), U+007F..U+009F
#: (jsonnet's C++ and Go std), U+2028/U+2029 (Go's encoding/json), and both.
_C1 = frozenset(range(0x7F, 0xA0))
_ESCAPED_BY_ENGINES: tuple[frozenset[int], ...] = (
    frozenset(),
    _C1,
    frozenset({0x2028, 0x2029}),
    _C1 | {0x2028, 0x2029},
)
_JSON_SHORT = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}


def _json_escape(text: str, extra: frozenset[int]) -> str:
    out = []
    for c in text:
        if c in _JSON_SHORT:
            out.append(_JSON_SHORT[c])
        elif ord(c) < 0x20 or ord(c) in extra:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(c)
    return "".join(out)


def _pattern(text: str) -> str:
    """A regex matching ``text`` with any character written raw or in any escape syntax."""
    if len(text) > _PATTERN_LIMIT:
        return re.escape(text)
    return "".join(_char(c) for c in text)


def _char(c: str) -> str:
    code = ord(c)
    alternatives = [re.escape(c), *(re.escape(e) for e in _ESCAPES.get(c, ()))]
    if code < 0x100:
        alternatives.append(r"\\x" + _hex(code, 2))
    if code < 0x10000:
        alternatives.append(r"\\u" + _hex(code, 4))
    else:
        high, low = 0xD800 + ((code - 0x10000) >> 10), 0xDC00 + ((code - 0x10000) & 0x3FF)
        alternatives.append(r"\\u" + _hex(high, 4) + r"\\u" + _hex(low, 4))
        alternatives.append(r"\\U" + _hex(code, 8))
    return "(?:" + "|".join(alternatives) + ")"


def _hex(code: int, width: int) -> str:
    digits = f"{code:0{width}x}"
    return "".join(f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


def _literal(text: str) -> str:
    return re.escape(text)


def _base64_forms(text: str) -> Iterator[str]:
    """Base64 of ``text`` as it appears at byte offsets 0, 1 and 2 inside longer data.

    Only the characters that depend on ``text`` alone are kept (the edges also encode the
    neighbouring bytes), in the standard and the URL-safe alphabet.
    """
    data = text.encode("utf-8", "surrogatepass")
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data).decode("ascii")
        start, end = (8 * offset + 5) // 6, (8 * (offset + len(data))) // 6
        stable = encoded[start:end]
        if len(stable) >= MIN_LENGTH:
            yield stable
            yield stable.translate(_URLSAFE)


_URLSAFE = str.maketrans("+/", "-_")


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    parts: list[str] = []
    position = 0
    for start, end in spans:
        if end <= position:
            continue
        if start > position:
            parts.append(text[position:start])
            parts.append(MASK)
        elif not parts or parts[-1] != MASK:
            parts.append(MASK)
        position = end
    parts.append(text[position:])
    return "".join(parts)


def _code_strings(code: str) -> list[str]:
    """String and number leaves of ``code`` read as JSON, else the string literals and the bare
    words of the jsonnet text.

    A secrets file is JSON until someone drops a quote: then a value is no longer a literal
    but an identifier or a number, and the engines quote exactly those tokens in their errors
    (``variable is not defined: Hunter2``, ``got "9"``). Numbers (a PIN) count as values too.
    Bare words and numbers shorter than :data:`MIN_LENGTH` are left out: they are not string
    secrets, and counting them would hide every engine message.
    """
    numbers: list[str] = []

    def keep(raw: str) -> int:
        numbers.append(raw)
        return 0

    try:
        document = json.loads(code, parse_int=keep, parse_float=keep)
    except (ValueError, RecursionError):
        return [*_literals(code), *_bare_words(code)]
    leaves: list[str] = [form for raw in numbers for form in _number_forms(raw)]
    stack: list[object] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            leaves.append(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return leaves


_TOKEN = re.compile(
    r"""//[^\n]*|\#[^\n]*|/\*.*?(?:\*/|\Z)            # comments
    |@"(?P<vd>(?:[^"]|"")*)"|@'(?P<vs>(?:[^']|'')*)'  # verbatim strings
    |"(?P<d>(?:[^"\\]|\\.)*)"|'(?P<s>(?:[^'\\]|\\.)*)'
    |\|\|\|-?[ \t]*\n(?P<block>.*?)\n[ \t]*\|\|\|      # text blocks
    """,
    re.DOTALL | re.VERBOSE,
)
_JSONNET_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.DOTALL)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}


def _literals(code: str) -> Iterator[str]:
    """The string literals of jsonnet ``code``, as written and decoded."""
    for token in _TOKEN.finditer(code):
        for group, quote in (("vd", '"'), ("vs", "'")):
            if token.group(group) is not None:
                yield token.group(group).replace(quote * 2, quote)
        for group in ("d", "s"):
            raw = token.group(group)
            if raw is not None:
                yield raw
                yield _paired(_JSONNET_ESCAPE.sub(_unescape, raw))
        block = token.group("block")
        if block is not None:
            yield block
            yield _dedent(block)


def _unescape(found: re.Match[str]) -> str:
    escape = found.group(1)
    if escape.startswith("u") and len(escape) == 5:
        return chr(int(escape[1:], 16))
    return _SIMPLE.get(escape, escape)


def _paired(text: str) -> str:
    """Join the surrogate pairs that ``\\uD83D\\uDE00`` escapes decode to."""
    try:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:  # a lone surrogate: keep the text as it is
        return text


def _dedent(block: str) -> str:
    lines = block.split("\n")
    indent = len(lines[0]) - len(lines[0].lstrip(" \t"))
    return "\n".join(line[indent:] for line in lines) + "\n"


#: Words of jsonnet itself: never secret, and common in every engine message.
_KEYWORDS = frozenset(
    [
        "assert",
        "else",
        "error",
        "false",
        "for",
        "function",
        "if",
        "import",
        "importstr",
        "importbin",
        "in",
        "local",
        "null",
        "tailstrict",
        "then",
        "self",
        "super",
        "true",
        "std",
    ]
)
_WORDS = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9][0-9.eE+\-]*")  # what the lexers quote
_RUNS = re.compile(r"[^\s\"'{}\[\](),:;]+")  # a value that lost its quotes, as one piece


def _bare_words(code: str) -> Iterator[str]:
    """Identifiers, numbers and runs of non-blank text outside literals and comments."""
    rest = _TOKEN.sub(" ", code)
    for pattern in (_WORDS, _RUNS):
        for found in pattern.finditer(rest):
            word = found.group(0)
            if len(word) >= MIN_LENGTH and word not in _KEYWORDS:
                yield word


def _number_forms(raw: str) -> list[str]:
    """A JSON number as written and as the engines print it; short ones are left out."""
    forms = {raw, raw.lstrip("-")}
    try:
        value = abs(float(raw))
        integral = value.is_integer() and value < 1e17
        forms.add(str(int(value)) if integral else repr(value))
    except (ValueError, OverflowError):
        pass
    return sorted(f for f in forms if len(f) >= MIN_LENGTH)
