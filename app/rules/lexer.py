"""The rule lexer: text to tokens, each with its 1-based line and column."""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    NAME = "name"  # a word or a dotted path: AND, percent, email, attributes.tier
    STRING = "string"
    NUMBER = "number"
    OP = "op"  # a comparison operator
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"
    ERROR = "error"  # what the lexer could not read; lexing stops there


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``value`` is a string's content, or an ERROR's message."""

    kind: Kind
    text: str
    line: int
    column: int
    value: str = ""


_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")
_OPERATORS = ("<=", ">=", "!=", "<", ">", "=")
# Common spellings from other languages, refused with a hint rather than a bare "unexpected".
_WRONG_OPERATORS = {"<>": "write != rather than <>", "==": "write = rather than =="}
_PUNCTUATION = {"(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}


def _word_char(ch: str) -> bool:
    # Any letter or digit is read as part of a name, so that 'prénom' is reported as one bad
    # key rather than as a stray character; what a valid key is gets checked by the parser.
    return ch.isalnum() or ch == "_"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.tokens: list[Token] = []

    def run(self) -> list[Token]:
        text, n = self.text, len(self.text)
        while self.i < n:
            ch = text[self.i]
            if ch == "\n":
                self._newline(self.i)
                self.i += 1
            elif ch.isspace():
                self.i += 1
            elif text.startswith("--", self.i):
                end = text.find("\n", self.i)
                self.i = n if end < 0 else end
            elif not self._token(ch):
                return self.tokens
        self._add(Kind.END, "", self.i)
        return self.tokens

    def _token(self, ch: str) -> bool:
        """Read one token at self.i; False when it was an ERROR (lexing stops)."""
        text, start = self.text, self.i
        if ch == "'":
            return self._string()
        if ch == '"':
            return self._error(start, "strings are written in single quotes, as in 'gold'")
        number = _NUMBER.match(text, start)
        if number:
            self.i = number.end()
            self._add(Kind.NUMBER, number.group(), start)
            return True
        if _word_char(ch):
            self._name()
            return True
        for wrong, hint in _WRONG_OPERATORS.items():
            if text.startswith(wrong, start):
                return self._error(start, f"'{wrong}' is not an operator: {hint}")
        for op in _OPERATORS:
            if text.startswith(op, start):
                self.i += len(op)
                self._add(Kind.OP, op, start)
                return True
        if ch in _PUNCTUATION:
            self.i += 1
            self._add(_PUNCTUATION[ch], ch, start)
            return True
        return self._error(start, f"unexpected character {ch!r}")

    def _string(self) -> bool:
        text, start = self.text, self.i
        parts: list[str] = []
        j = start + 1
        while True:
            end = text.find("'", j)
            if end < 0:
                return self._error(start, "unterminated string (write '' for a quote inside)")
            parts.append(text[j:end])
            if text.startswith("''", end):
                parts.append("'")
                j = end + 2
                continue
            break
        self.i = end + 1
        self._add(Kind.STRING, text[start : self.i], start, "".join(parts))
        # A string may span lines: later tokens must still get the right line and column.
        for k in range(start, self.i):
            if text[k] == "\n":
                self._newline(k)
        return True

    def _name(self) -> None:
        text, n, start = self.text, len(self.text), self.i
        j = start
        while j < n and (
            _word_char(text[j])
            # 'first-name' is read whole (and refused as a bad key), but '--' still starts a comment
            or (text[j] == "-" and j > start and j + 1 < n and _word_char(text[j + 1]))
            or (text[j] == "." and j > start)
        ):
            j += 1
        self.i = j
        self._add(Kind.NAME, text[start:j], start)

    def _newline(self, at: int) -> None:
        self.line += 1
        self.line_start = at + 1

    def _add(self, kind: Kind, text: str, start: int, value: str = "") -> None:
        self.tokens.append(Token(kind, text, self.line, start - self.line_start + 1, value))

    def _error(self, start: int, message: str) -> bool:
        self._add(Kind.ERROR, self.text[start : start + 1], start, message)
        return False


def tokenize(text: str) -> list[Token]:
    """The tokens of a rule; the last is END, or ERROR if some text could not be read."""
    return _Lexer(text).run()
