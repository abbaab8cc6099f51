"""The rule parser: recursive descent over the lexer's tokens, collecting every problem.

A syntax error stops the parse (the first one is reported precisely); problems of meaning
(an unknown field, a bad argument) are recorded and the parse goes on, so that one
validation shows them all.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from app.rules import nodes
from app.rules.fields import FieldProblem, check_field
from app.rules.lexer import Kind, Token, tokenize
from app.rules.normalize import format_rule
from app.rules.values import parse_timestamp

MAX_RULE_LENGTH = 10_000
MAX_TESTS = 200
MAX_DEPTH = 32
"""Nesting depth: parentheses and NOTs open at any point of the rule."""

_INT_LIMIT = 2**63  # integers are bound as 64-bit SQL integers
_OPERATORS_HINT = "=, !=, <, <=, >, >=, IN, NOT IN, IS, BETWEEN, CONTAINS, STARTS WITH, ENDS WITH"
_VALUE_HINT = "a value (a 'string', a number, true, false or days_ago(n))"
_KEYWORDS = frozenset(
    {"AND", "OR", "NOT", "IN", "IS", "NULL", "BETWEEN", "CONTAINS", "STARTS", "ENDS", "WITH"}
    | {"TRUE", "FALSE"}
)
_NOT_FIELDS = _KEYWORDS | {"DAYS_AGO"}  # words that cannot start a test


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """What is wrong, and where: 1-based line and column of the offending token."""

    message: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class ParsedRule:
    """A parse's outcome. ``ast`` and ``normalized`` are None when there are problems."""

    ast: nodes.Node | None
    problems: list[RuleProblem]
    normalized: str | None
    fields: list[str] = field(default_factory=list)
    segment_names: list[str] = field(default_factory=list)
    # each in_segment() name with the line and column of its argument
    segment_refs: list[tuple[str, int, int]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


class _Stop(Exception):
    """A syntax error or a size limit: nothing after it can be trusted."""


class _Parser:
    def __init__(self, tokens: list[Token]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.tests = 0
        self.problems: list[RuleProblem] = []
        self.fields: set[str] = set()
        self.segment_names: set[str] = set()
        self.segment_refs: list[tuple[str, int, int]] = []

    # ------------------------------------------------------------ token helpers

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def _peek(self, ahead: int = 1) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def _advance(self) -> Token:
        tok = self.tok
        if tok.kind not in (Kind.END, Kind.ERROR):
            self.pos += 1
        return tok

    def _is_word(self, *words: str) -> bool:
        return self.tok.kind is Kind.NAME and self.tok.text.upper() in words

    def _problem(self, tok: Token, message: str) -> None:
        self.problems.append(RuleProblem(message, tok.line, tok.column))

    def _fail(self, expected: str) -> _Stop:
        """A syntax error at the current token; the caller raises what this returns."""
        tok = self.tok
        if tok.kind is Kind.ERROR:
            self._problem(tok, tok.value)
        else:
            self._problem(tok, f"expected {expected}, found {_describe(tok)}")
        return _Stop()

    def _expect(self, kind: Kind, expected: str) -> Token:
        if self.tok.kind is not kind:
            raise self._fail(expected)
        return self._advance()

    def _expect_word(self, word: str, expected: str) -> None:
        if not self._is_word(word):
            raise self._fail(expected)
        self._advance()

    # ------------------------------------------------------------ grammar

    def rule(self) -> nodes.Node:
        node = self._or()
        if self.tok.kind is not Kind.END:
            raise self._fail("AND, OR or end of rule")
        return node

    def _or(self) -> nodes.Node:
        return self._chain("OR", self._and, nodes.Or)

    def _and(self) -> nodes.Node:
        return self._chain("AND", self._unary, nodes.And)

    def _chain(
        self, word: str, operand: Callable[[], nodes.Node], node: type[nodes.And] | type[nodes.Or]
    ) -> nodes.Node:
        """Operands joined by ``word`` (OR, AND), one node over all of them."""
        operands = [operand()]
        while self._is_word(word):
            self._advance()
            operands.append(operand())
        return _flatten(node, operands)

    def _unary(self) -> nodes.Node:
        if self._is_word("NOT"):
            self._enter()
            self._advance()
            node: nodes.Node = nodes.Not(self._unary())
            self.depth -= 1
            return node
        if self.tok.kind is Kind.LPAREN:
            self._enter()
            self._advance()
            node = self._or()
            self._expect(Kind.RPAREN, "AND, OR or ')'")
            self.depth -= 1
            return node
        return self._test()

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self._problem(self.tok, f"rule is nested too deeply (more than {MAX_DEPTH} levels)")
            raise _Stop()

    def _test(self) -> nodes.Node:
        start = self.tok
        self.tests += 1
        if self.tests == MAX_TESTS + 1:
            self._problem(start, f"rule has more than {MAX_TESTS} tests")
        if self._is_word("PERCENT", "IN_SEGMENT"):
            return self._function_test()
        if start.kind is not Kind.NAME or start.text.upper() in _NOT_FIELDS:
            raise self._fail("a test (a field, percent(n) or in_segment('name'))")
        path = self._field(self._advance())
        tok = self.tok
        if tok.kind is Kind.OP:
            self._advance()
            op: nodes.CompareOp = tok.text  # type: ignore[assignment]
            value = self._moment(path, f"{_VALUE_HINT} after '{op}'")
            return nodes.Compare(path, op, value)
        if self._is_word("NOT"):
            self._advance()
            self._expect_word("IN", "IN after NOT")
            return self._in_list(path, negated=True)
        if self._is_word("IN"):
            self._advance()
            return self._in_list(path, negated=False)
        if self._is_word("IS"):
            self._advance()
            negated = self._is_word("NOT")
            if negated:
                self._advance()
            self._expect_word(
                "NULL", "NULL after IS NOT" if negated else "NULL or NOT NULL after IS"
            )
            return nodes.IsNull(path, negated)
        if self._is_word("BETWEEN"):
            return self._between(path)
        if self._is_word("CONTAINS", "STARTS", "ENDS"):
            return self._match(path)
        raise self._fail(f"an operator after {start.text} ({_OPERATORS_HINT})")

    def _field(self, tok: Token) -> str:
        checked = check_field(tok.text)
        if isinstance(checked, FieldProblem):
            self.problems.append(
                RuleProblem(checked.message, tok.line, tok.column + checked.offset)
            )
        else:
            self.fields.add(checked.path)
        return tok.text

    def _in_list(self, path: str, *, negated: bool) -> nodes.Node:
        opening = self._expect(Kind.LPAREN, "'(' to open the IN list")
        values: list[nodes.Value] = []
        if self.tok.kind is Kind.RPAREN:
            self._problem(opening, "IN list is empty")
            self._advance()
            return nodes.InList(path, (nodes.String(""),), negated)
        values.append(self._moment(path, _VALUE_HINT))
        while self.tok.kind is Kind.COMMA:
            self._advance()
            values.append(self._moment(path, _VALUE_HINT))
        self._expect(Kind.RPAREN, "',' or ')' in the IN list")
        return nodes.InList(path, tuple(values), negated)

    def _between(self, path: str) -> nodes.Node:
        self._advance()
        low = self._moment(path, f"{_VALUE_HINT} after BETWEEN")
        self._expect_word("AND", "AND between the two bounds of BETWEEN")
        high_tok = self.tok
        high = self._moment(path, f"{_VALUE_HINT} after AND")
        if low.kind != high.kind:
            self._problem(
                high_tok,
                f"BETWEEN bounds must have the same type, not {_type_name(low)} "
                f"and {_type_name(high)}",
            )
        return nodes.Between(path, low, high)

    def _match(self, path: str) -> nodes.Node:
        word = self._advance().text.upper()
        if word != "CONTAINS":
            self._expect_word("WITH", f"WITH after {word}")
            word += " WITH"
        op: nodes.MatchOp = word  # type: ignore[assignment]
        tok = self.tok
        value = self._value(f"a 'string' after {op}")
        if not isinstance(value, nodes.String):
            self._problem(tok, f"{op} takes a 'string', not {_type_name(value)}")
            return nodes.TextMatch(path, op, "")
        return nodes.TextMatch(path, op, value.value)

    def _function_test(self) -> nodes.Node:
        name = self._advance().text.lower()
        self._expect(Kind.LPAREN, f"'(' after {name}")
        tok = self.tok
        value = self._value(f"the argument of {name}()")
        self._expect(Kind.RPAREN, f"')' after the argument of {name}()")
        if name == "percent":
            return nodes.Percent(self._percent(tok, value))
        if not isinstance(value, nodes.String):
            self._problem(
                tok, f"in_segment() takes a segment name in quotes, not {_type_name(value)}"
            )
            return nodes.InSegment("")
        if not value.value:
            self._problem(tok, "in_segment() needs a segment name")
        else:
            self.segment_names.add(value.value)
            self.segment_refs.append((value.value, tok.line, tok.column))
        return nodes.InSegment(value.value)

    def _percent(self, tok: Token, value: nodes.Value) -> int | float:
        if not isinstance(value, nodes.Number):
            self._problem(tok, f"percent() takes a number from 0 to 100, not {_type_name(value)}")
            return 0
        if not 0 <= value.value <= 100:
            self._problem(tok, f"percent() takes a number from 0 to 100, not {tok.text}")
        elif (Decimal(tok.text) * 100) % 1:
            self._problem(tok, f"percent() takes at most 2 decimal places, not {tok.text}")
        return value.value

    def _moment(self, path: str, expected: str) -> nodes.Value:
        """A value compared with the field at ``path``: for a timestamp field, days_ago(n) or
        a string that is an ISO-8601 timestamp (a number, a boolean or any other string would
        never match: a problem at it)."""
        tok = self.tok
        value = self._value(expected)
        spec = check_field(path)
        if (
            not isinstance(spec, FieldProblem)
            and spec.kind == "timestamp"
            and not isinstance(value, nodes.DaysAgo)
            and not (isinstance(value, nodes.String) and parse_timestamp(value.value) is not None)
        ):
            self._problem(
                tok,
                f"{path} compares with days_ago(n) or an ISO-8601 timestamp such as"
                f" '2025-01-31T00:00:00Z', not {_describe(tok)}",
            )
        return value

    def _value(self, expected: str) -> nodes.Value:
        tok = self.tok
        if tok.kind is Kind.STRING:
            self._advance()
            if "\x00" in tok.value:
                self._problem(tok, "strings may not contain NUL characters")
            return nodes.String(tok.value)
        if tok.kind is Kind.NUMBER:
            self._advance()
            return nodes.Number(self._number(tok))
        if self._is_word("TRUE", "FALSE"):
            self._advance()
            return nodes.Boolean(tok.text.upper() == "TRUE")
        if self._is_word("DAYS_AGO") and self._peek().kind is Kind.LPAREN:
            self._advance()
            self._advance()
            arg = self.tok
            if arg.kind not in (Kind.STRING, Kind.NUMBER) and not self._is_word("TRUE", "FALSE"):
                raise self._fail("a number of days")
            days = self._value("a number of days")
            self._expect(Kind.RPAREN, "')' after the argument of days_ago()")
            if not isinstance(days, nodes.Number):
                message = f"days_ago() takes a non-negative number, not {_type_name(days)}"
                self._problem(arg, message)
                return nodes.DaysAgo(0)
            if days.value < 0:
                self._problem(arg, f"days_ago() takes a non-negative number, not {arg.text}")
            return nodes.DaysAgo(days.value)
        raise self._fail(expected)

    def _number(self, tok: Token) -> int | float:
        text = tok.text
        if "." in text or "e" in text or "E" in text:
            number = float(text)
            if math.isinf(number):
                self._problem(tok, f"number out of range: {text[:40]}")
                return 0
            return number
        # a number of thousands of digits is out of range anyway: Python refuses to read
        # one of over 4,300 digits, and reading it would cost time quadratic in its length
        if len(text.lstrip("+-").lstrip("0")) > 20:
            self._problem(tok, f"number out of range: {text[:40]}...")
            return 0
        integer = int(text)
        if not -_INT_LIMIT <= integer < _INT_LIMIT:
            self._problem(tok, f"number out of range: {text}")
            return 0
        return integer


def _flatten(cls: type[nodes.And] | type[nodes.Or], operands: list[nodes.Node]) -> nodes.Node:
    """One n-ary node for a chain: (a AND b) AND c is a AND b AND c (same meaning, 3VL too)."""
    if len(operands) == 1:
        return operands[0]
    flat: list[nodes.Node] = []
    for operand in operands:
        flat.extend(operand.operands if isinstance(operand, cls) else (operand,))
    return cls(tuple(flat))


def _describe(tok: Token) -> str:
    if tok.kind is Kind.END:
        return "end of rule"
    text = tok.text if len(tok.text) <= 40 else tok.text[:37] + "..."
    if tok.kind is Kind.STRING:
        return f"string {text}"
    if tok.kind is Kind.NUMBER:
        return f"number {text}"
    if tok.kind is Kind.NAME and tok.text.upper() in _KEYWORDS:
        return tok.text.upper()
    return f"'{text}'"


def _type_name(value: nodes.Value) -> str:
    return {"string": "a string", "number": "a number", "boolean": "a boolean"}.get(
        value.kind, "days_ago()"
    )


def parse(text: str) -> ParsedRule:
    """Parse a rule. Never raises: what is wrong comes back as problems, with positions."""
    if len(text) > MAX_RULE_LENGTH:
        message = f"rule is too long: {len(text)} characters (the limit is {MAX_RULE_LENGTH})"
        return ParsedRule(None, [RuleProblem(message, 1, 1)], None)
    parser = _Parser(tokenize(text))
    node: nodes.Node | None = None
    try:
        node = parser.rule()
    except _Stop:
        node = None
    problems = sorted(parser.problems, key=lambda p: (p.line, p.column))
    if problems:
        node = None
    return ParsedRule(
        ast=node,
        problems=problems,
        normalized=format_rule(node) if node is not None else None,
        fields=sorted(parser.fields),
        segment_names=sorted(parser.segment_names),
        segment_refs=parser.segment_refs if node is not None else [],
    )
