"""The canonical text of a rule tree: what validateRule returns as ``normalized``.

Keywords upper-case, function names lower-case, single spaces, strings re-quoted, and
only the parentheses the precedence (NOT over AND over OR) needs. Parsing the text gives
back the same tree.
"""

from __future__ import annotations

from app.rules.nodes import (
    And,
    Between,
    Boolean,
    Compare,
    DaysAgo,
    InList,
    InSegment,
    IsNull,
    Node,
    Not,
    Number,
    Or,
    Percent,
    String,
    TextMatch,
    Value,
)


def format_rule(node: Node) -> str:
    """The canonical text of a rule tree."""
    if isinstance(node, Or):
        return " OR ".join(format_rule(operand) for operand in node.operands)
    if isinstance(node, And):
        return " AND ".join(
            f"({format_rule(o)})" if isinstance(o, Or) else format_rule(o) for o in node.operands
        )
    if isinstance(node, Not):
        inner = format_rule(node.operand)
        return f"NOT ({inner})" if isinstance(node.operand, And | Or) else f"NOT {inner}"
    return _test(node)


def _test(node: Node) -> str:
    match node:
        case Compare(field, op, value):
            return f"{field} {op} {format_value(value)}"
        case InList(field, values, negated):
            listed = ", ".join(format_value(v) for v in values)
            return f"{field} {'NOT IN' if negated else 'IN'} ({listed})"
        case IsNull(field, negated):
            return f"{field} IS {'NOT NULL' if negated else 'NULL'}"
        case Between(field, low, high):
            return f"{field} BETWEEN {format_value(low)} AND {format_value(high)}"
        case TextMatch(field, op, value):
            return f"{field} {op} {quote(value)}"
        case Percent(value):
            return f"percent({_number(value)})"
        case InSegment(name):
            return f"in_segment({quote(name)})"
    raise TypeError(f"not a rule node: {node!r}")


def format_value(value: Value) -> str:
    """A literal as rule text."""
    match value:
        case String(text):
            return quote(text)
        case Number(number):
            return _number(number)
        case Boolean(flag):
            return "TRUE" if flag else "FALSE"
        case DaysAgo(days):
            return f"days_ago({_number(days)})"
    raise TypeError(f"not a rule value: {value!r}")


def quote(text: str) -> str:
    """A string literal: single quotes, a quote inside doubled."""
    return "'" + text.replace("'", "''") + "'"


def _number(number: int | float) -> str:
    # repr is the shortest text that reads back as the same float (1.5, 1e+20, 0.1)
    return repr(number)
