"""The canonical text of a rule tree: what validateRule returns as ``normalized``.

Keywords upper-case, function names lower-case, single spaces, strings re-quoted, and
only the parentheses the precedence (NOT over AND over OR) needs. Parsing the text gives
back the same tree.
"""

from __future__ import annotations

from app.rules import nodes


def format_rule(node: nodes.Node) -> str:
    """The canonical text of a rule tree."""
    if isinstance(node, nodes.Or):
        return " OR ".join(format_rule(operand) for operand in node.operands)
    if isinstance(node, nodes.And):
        return " AND ".join(
            f"({format_rule(o)})" if isinstance(o, nodes.Or) else format_rule(o)
            for o in node.operands
        )
    if isinstance(node, nodes.Not):
        inner = format_rule(node.operand)
        return (
            f"NOT ({inner})" if isinstance(node.operand, nodes.And | nodes.Or) else f"NOT {inner}"
        )
    return _test(node)


def _test(node: nodes.Node) -> str:
    match node:
        case nodes.Compare(field, op, value):
            return f"{field} {op} {format_value(value)}"
        case nodes.InList(field, values, negated):
            listed = ", ".join(format_value(v) for v in values)
            return f"{field} {'NOT IN' if negated else 'IN'} ({listed})"
        case nodes.IsNull(field, negated):
            return f"{field} IS {'NOT NULL' if negated else 'NULL'}"
        case nodes.Between(field, low, high):
            return f"{field} BETWEEN {format_value(low)} AND {format_value(high)}"
        case nodes.TextMatch(field, op, value):
            return f"{field} {op} {quote(value)}"
        case nodes.Percent(value):
            return f"percent({_number(value)})"
        case nodes.InSegment(name):
            return f"in_segment({quote(name)})"
    raise TypeError(f"not a rule node: {node!r}")


def format_value(value: nodes.Value) -> str:
    """A literal as rule text."""
    match value:
        case nodes.String(text):
            return quote(text)
        case nodes.Number(number):
            return _number(number)
        case nodes.Boolean(flag):
            return "TRUE" if flag else "FALSE"
        case nodes.DaysAgo(days):
            return f"days_ago({_number(days)})"
    raise TypeError(f"not a rule value: {value!r}")


def quote(text: str) -> str:
    """A string literal: single quotes, a quote inside doubled."""
    return "'" + text.replace("'", "''") + "'"


def _number(number: int | float) -> str:
    # repr is the shortest text that reads back as the same float (1.5, 1e+20, 0.1)
    return repr(number)
