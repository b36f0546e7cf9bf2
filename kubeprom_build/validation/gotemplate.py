"""Go ``text/template`` syntax errors, found without a Go template library.

Prometheus parses alert labels and annotations as Go templates when it loads the rule file and
rejects the whole group on a syntax error, so an alert silently never fires. No maintained Python
package parses Go templates, so this ports the parts of Go's lexer (``text/template/parse/lex.go``)
that decide where actions start and end, plus the block structure of the parser:

- an action ``{{ … }}`` that is never closed, or a comment ``{{/* … */}}`` that is not;
- unterminated ``"…"``, raw `` `…` `` and ``'…'`` literals inside an action;
- unbalanced parentheses, bad numbers, characters Go rejects, ``:`` without ``=``;
- an empty action, ``if``/``range``/``with`` without a pipeline;
- ``{{end}}``/``{{else}}`` without an open block, a block never ended, ``break``/``continue``
  outside ``range``.

Not checked (it needs Go's full parser and Prometheus's function table): unknown functions,
undefined variables, argument counts and types. ``}}`` in plain text is legal Go (printed
literally) and reported separately by :func:`stray_closers` so callers can warn about it.
"""

from __future__ import annotations

from dataclasses import dataclass

_LEFT, _RIGHT = "{{", "}}"
_SPACE = " \t\r\n"
_BLOCKS = {"if", "range", "with", "block", "define"}


@dataclass(frozen=True)
class TemplateError:
    """A syntax error at ``offset`` (0-based, into the template text)."""

    offset: int
    message: str

    def located(self, text: str) -> str:
        line = text.count("\n", 0, self.offset) + 1
        column = self.offset - (text.rfind("\n", 0, self.offset) + 1) + 1
        return f"{self.message} (line {line}, column {column})"


@dataclass
class _Block:
    """An open ``if``/``range``/``with``/``block``/``define`` and whether it had a final else."""

    word: str
    offset: int
    has_else: bool = False


class _Stop(Exception):
    def __init__(self, offset: int, message: str) -> None:
        super().__init__(message)
        self.error = TemplateError(offset, message)


def syntax_error(text: str) -> TemplateError | None:
    """The first syntax error Go's template parser would report for ``text``, or None."""
    try:
        _Parser(text).run()
    except _Stop as stop:
        return stop.error
    return None


def stray_closers(text: str) -> int | None:
    """Offset of the first ``}}`` outside any action (legal, but usually a lost ``{{``)."""
    position = 0
    while True:
        left = text.find(_LEFT, position)
        right = text.find(_RIGHT, position)
        if right >= 0 and (left < 0 or right < left):
            return right
        if left < 0:
            return None
        try:
            position = _Parser(text).action_end(left)
        except _Stop:
            return None


def _alnum(char: str) -> bool:
    return char == "_" or char.isalpha() or char.isdecimal()


class _Parser:
    """One pass over the text: actions in order, the open blocks on a stack."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.blocks: list[_Block] = []

    def run(self) -> None:
        position = 0
        while (left := self.text.find(_LEFT, position)) >= 0:
            position = self.action_end(left, structure=True)
        if self.blocks:
            block = self.blocks[-1]
            raise _Stop(block.offset, f"unexpected EOF: {{{{{block.word}}}}} has no {{{{end}}}}")

    def action_end(self, left: int, *, structure: bool = False) -> int:
        """Lex the action starting at ``left``; return the offset just past its ``}}``."""
        position = left + 2
        if self.text.startswith("-", position) and self._space(position + 1):
            position += 2
        if self.text.startswith("/*", position):
            return self._comment(left, position + 2)
        words, position = self._tokens(left, position)
        if structure:
            self._structure(left, words)
        return position

    def _comment(self, left: int, position: int) -> int:
        close = self.text.find("*/", position)
        if close < 0:
            raise _Stop(left, "unclosed comment")
        end = self._right_delim(close + 2)
        if end is None:
            raise _Stop(close, "comment ends before closing delimiter")
        return end

    def _space(self, position: int) -> bool:
        return position < len(self.text) and self.text[position] in _SPACE

    def _right_delim(self, position: int) -> int | None:
        """Offset past ``}}`` or `` -}}`` starting at ``position``, else None."""
        text = self.text
        if text.startswith(_RIGHT, position):
            return position + 2
        if self._space(position) and text.startswith("-}}", position + 1):
            return position + 4
        return None

    def _tokens(self, left: int, position: int) -> tuple[list[str], int]:
        """The action's tokens (words and punctuation, no spaces) and the offset past ``}}``."""
        text, depth, tokens = self.text, 0, list[str]()
        while True:
            end = self._right_delim(position)
            if end is not None:
                if depth:
                    raise _Stop(position, "unclosed left paren")
                return tokens, end
            if position >= len(text):
                raise _Stop(left, "unclosed action")
            if text[position] in _SPACE:
                position += 1
                continue
            start = position
            position, depth = self._token(position, depth)
            tokens.append(text[start:position])

    def _token(self, position: int, depth: int) -> tuple[int, int]:
        text, char = self.text, self.text[position]
        following = text[position + 1 : position + 2]
        if char == ":":
            if following != "=":
                raise _Stop(position, "expected :=")
            return position + 2, depth
        if char in "=|":
            return position + 1, depth
        if char in "\"'":
            return self._quoted(position, char), depth
        if char == "`":
            close = text.find("`", position + 1)
            if close < 0:
                raise _Stop(position, "unterminated raw quoted string")
            return close + 1, depth
        if char == "$" or (char == "." and not "0" <= following <= "9"):
            return self._word(position + 1), depth
        if char in "+-." or "0" <= char <= "9":
            return self._number(position), depth
        if _alnum(char):
            return self._word(position), depth
        if char == "(":
            return position + 1, depth + 1
        if char == ")":
            if depth == 0:
                raise _Stop(position, "unexpected right paren")
            return position + 1, depth - 1
        if char.isascii() and char.isprintable():
            return position + 1, depth
        raise _Stop(position, f"unrecognized character in action: U+{ord(char):04X}")

    def _quoted(self, position: int, quote: str) -> int:
        what = "quoted string" if quote == '"' else "character constant"
        index = position + 1
        while index < len(self.text):
            char = self.text[index]
            if char == "\\":
                if self.text[index + 1 : index + 2] in ("", "\n"):
                    break
                index += 2
                continue
            if char == "\n":
                break
            if char == quote:
                return index + 1
            index += 1
        raise _Stop(position, f"unterminated {what}")

    def _word(self, position: int) -> int:
        """An identifier, ``.field`` or ``$var``: alphanumerics up to Go's ``atTerminator``."""
        while position < len(self.text) and _alnum(self.text[position]):
            position += 1
        following = self.text[position : position + 1]
        if following and following not in _SPACE + ".,|:()" and self._right_delim(position) is None:
            raise _Stop(position, f"bad character U+{ord(following):04X}")
        return position

    def _number(self, start: int) -> int:
        """Go's ``scanNumber``: sign, base prefix, digits, fraction, exponent, ``i``."""
        text, position = self.text, start

        def accept(chars: str) -> bool:
            nonlocal position
            if text[position : position + 1] and text[position] in chars:
                position += 1
                return True
            return False

        def accept_run(chars: str) -> None:
            while accept(chars):
                pass

        accept("+-")
        digits = "0123456789_"
        if accept("0"):
            if accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif accept("oO"):
                digits = "01234567_"
            elif accept("bB"):
                digits = "01_"
        accept_run(digits)
        if accept("."):
            accept_run(digits)
        if len(digits) == 11 and accept("eE"):
            accept("+-")
            accept_run("0123456789_")
        if len(digits) == 23 and accept("pP"):
            accept("+-")
            accept_run("0123456789_")
        accept("i")
        if position < len(text) and _alnum(text[position]):
            raise _Stop(start, f"bad number syntax: {text[start : position + 1]!r}")
        return position

    def _structure(self, left: int, tokens: list[str]) -> None:
        """Go's parser on block keywords: what opens, continues or closes a block."""
        if not tokens:
            raise _Stop(left, "missing value for command")
        word = tokens[0]
        if word in {"if", "range", "with"} and len(tokens) == 1:
            raise _Stop(left, f"missing value for {word}")
        if word in _BLOCKS:
            self.blocks.append(_Block(word, left))
        elif word == "end":
            if not self.blocks:
                raise _Stop(left, "unexpected {{end}}")
            self.blocks.pop()
        elif word == "else":
            if not self.blocks or self.blocks[-1].word not in {"if", "range", "with"}:
                raise _Stop(left, "unexpected {{else}}")
            if self.blocks[-1].has_else:
                raise _Stop(left, "expected {{end}}; found {{else}}")
            self.blocks[-1].has_else = len(tokens) == 1 or tokens[1] not in {"if", "with"}
        elif word in {"break", "continue"} and not any(b.word == "range" for b in self.blocks):
            raise _Stop(left, f"{{{{{word}}}}} outside {{{{range}}}}")
