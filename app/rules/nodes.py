"""The rule syntax tree: small frozen dataclasses, and their JSON form (segments.rule_ast)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

from app.rules.fields import field_spec

CompareOp = Literal["=", "!=", "<", "<=", ">", ">="]
MatchOp = Literal["CONTAINS", "STARTS WITH", "ENDS WITH"]
COMPARE_OPS: tuple[str, ...] = ("=", "!=", "<", "<=", ">", ">=")
MATCH_OPS: tuple[str, ...] = ("CONTAINS", "STARTS WITH", "ENDS WITH")


# ---------------------------------------------------------------- literals


@dataclass(frozen=True, slots=True)
class String:
    value: str
    kind: ClassVar[str] = "string"


@dataclass(frozen=True, slots=True)
class Number:
    value: int | float
    kind: ClassVar[str] = "number"


@dataclass(frozen=True, slots=True)
class Boolean:
    value: bool
    kind: ClassVar[str] = "boolean"


@dataclass(frozen=True, slots=True)
class DaysAgo:
    """days_ago(n): the instant n days before the evaluation's now."""

    days: int | float
    kind: ClassVar[str] = "days_ago"


Value: TypeAlias = String | Number | Boolean | DaysAgo


# ---------------------------------------------------------------- tests


@dataclass(frozen=True, slots=True)
class Compare:
    field: str
    op: CompareOp
    value: Value
    kind: ClassVar[str] = "compare"


@dataclass(frozen=True, slots=True)
class InList:
    field: str
    values: tuple[Value, ...]
    negated: bool
    kind: ClassVar[str] = "in"


@dataclass(frozen=True, slots=True)
class IsNull:
    field: str
    negated: bool
    kind: ClassVar[str] = "is_null"


@dataclass(frozen=True, slots=True)
class Between:
    field: str
    low: Value
    high: Value
    kind: ClassVar[str] = "between"


@dataclass(frozen=True, slots=True)
class TextMatch:
    """CONTAINS, STARTS WITH, ENDS WITH."""

    field: str
    op: MatchOp
    value: str
    kind: ClassVar[str] = "match"


@dataclass(frozen=True, slots=True)
class Percent:
    value: int | float
    kind: ClassVar[str] = "percent"


@dataclass(frozen=True, slots=True)
class InSegment:
    name: str
    kind: ClassVar[str] = "in_segment"


# ---------------------------------------------------------------- logic


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    kind: ClassVar[str] = "not"


@dataclass(frozen=True, slots=True)
class And:
    operands: tuple[Node, ...]
    kind: ClassVar[str] = "and"


@dataclass(frozen=True, slots=True)
class Or:
    operands: tuple[Node, ...]
    kind: ClassVar[str] = "or"


Test: TypeAlias = Compare | InList | IsNull | Between | TextMatch | Percent | InSegment
Node: TypeAlias = Test | Not | And | Or

_VALUE_TYPES = (String, Number, Boolean, DaysAgo)
_NODE_TYPES = (Compare, InList, IsNull, Between, TextMatch, Percent, InSegment, Not, And, Or)
_BY_KIND: dict[str, type[Any]] = {cls.kind: cls for cls in (*_VALUE_TYPES, *_NODE_TYPES)}


# ---------------------------------------------------------------- walking


def walk(node: Node) -> Iterator[Node]:
    """Every node of the tree, parents before children."""
    yield node
    if isinstance(node, Not):
        yield from walk(node.operand)
    elif isinstance(node, And | Or):
        for operand in node.operands:
            yield from walk(operand)


def fields_of(node: Node) -> list[str]:
    """The field paths a rule uses, sorted and unique."""
    return sorted(
        {
            n.field
            for n in walk(node)
            if isinstance(n, Compare | InList | IsNull | Between | TextMatch)
        }
    )


def segment_names_of(node: Node) -> list[str]:
    """The segment names a rule's in_segment() tests name, sorted and unique."""
    return sorted({n.name for n in walk(node) if isinstance(n, InSegment)})


# ---------------------------------------------------------------- JSON


def ast_to_json(node: Node | Value) -> Any:
    """The tree as plain dicts and lists, e.g. {"type": "not", "operand": {...}}."""
    out: dict[str, Any] = {"type": node.kind}
    for f in dataclasses.fields(node):
        out[f.name] = _to_json(getattr(node, f.name))
    return out


def _to_json(value: Any) -> Any:
    if isinstance(value, _VALUE_TYPES + _NODE_TYPES):
        return ast_to_json(value)
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    return value


def ast_from_json(data: Any) -> Node:
    """The tree back from ast_to_json's output; ValueError if it is not a valid rule tree."""
    node = _from_json(data)
    if not isinstance(node, _NODE_TYPES):
        raise ValueError(f"not a rule node: {data!r:.100}")
    return node


def _from_json(data: Any) -> Any:
    if isinstance(data, list):
        return tuple(_from_json(item) for item in data)
    if not isinstance(data, dict):
        return data
    cls = _BY_KIND.get(data.get("type"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown rule node type: {data.get('type')!r:.100}")
    names = [f.name for f in dataclasses.fields(cls)]
    if set(data) != {"type", *names}:
        raise ValueError(f"bad keys for a {cls.kind} node: {sorted(data)}")
    kwargs = {name: _from_json(data[name]) for name in names}
    for name, value in kwargs.items():
        if not _CHECKS[cls][name](value):
            raise ValueError(f"bad {name} in a {cls.kind} node: {value!r:.100}")
    return cls(**kwargs)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _is_field(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    try:
        field_spec(v)
    except ValueError:
        return False
    return True


def _is_value(v: Any) -> bool:
    return isinstance(v, _VALUE_TYPES)


def _is_node(v: Any) -> bool:
    return isinstance(v, _NODE_TYPES)


def _nodes(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) >= 2 and all(map(_is_node, v))


def _str(v: Any) -> bool:
    return isinstance(v, str)


def _bool(v: Any) -> bool:
    return isinstance(v, bool)


_CHECKS: dict[type[Any], dict[str, Callable[[Any], bool]]] = {
    String: {"value": _str},
    Number: {"value": _is_number},
    Boolean: {"value": _bool},
    DaysAgo: {"days": lambda v: _is_number(v) and v >= 0},
    Compare: {"field": _is_field, "op": lambda v: v in COMPARE_OPS, "value": _is_value},
    InList: {
        "field": _is_field,
        "values": lambda v: isinstance(v, tuple) and len(v) >= 1 and all(map(_is_value, v)),
        "negated": _bool,
    },
    IsNull: {"field": _is_field, "negated": _bool},
    Between: {"field": _is_field, "low": _is_value, "high": _is_value},
    TextMatch: {"field": _is_field, "op": lambda v: v in MATCH_OPS, "value": _str},
    Percent: {"value": lambda v: _is_number(v) and 0 <= v <= 100},
    InSegment: {"name": _str},
    Not: {"operand": _is_node},
    And: {"operands": _nodes},
    Or: {"operands": _nodes},
}
