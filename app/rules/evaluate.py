"""The Python evaluator: one rule against one member, in SQL's three-valued logic.

None means unknown. It must agree with the compiled SQL on every member (the property
tests hold it to that), so each rule here mirrors one branch of compile.py.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.rules import nodes
from app.rules.facts import MemberFacts
from app.rules.fields import FieldSpec, field_spec
from app.rules.values import BUCKETS, as_utc, literal_timestamp, percent_threshold, salt_offset

_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True, slots=True)
class _Context:
    facts: MemberFacts
    in_segment: Callable[[str], bool | None]
    now: datetime


Check = Callable[[_Context], "bool | None"]


def evaluate(
    node: nodes.Node,
    facts: MemberFacts,
    *,
    salt: int,
    in_segment: Callable[[str], bool | None],
    now: datetime | None = None,
) -> bool | None:
    """True, False or None (unknown) for one member; only True means the member matches.

    ``in_segment(name)`` answers in_segment() tests; ``now`` (default: the clock, read
    once) is what days_ago() counts back from.
    """
    return run(compile_check(node, salt), facts, in_segment=in_segment, now=now)


def run(
    check: Check,
    facts: MemberFacts,
    *,
    in_segment: Callable[[str], bool | None],
    now: datetime | None = None,
) -> bool | None:
    """evaluate() with a rule compiled once by compile_check (what lookups keep per segment)."""
    return check(context(facts, in_segment=in_segment, now=now))


def context(
    facts: MemberFacts,
    *,
    in_segment: Callable[[str], bool | None],
    now: datetime | None = None,
) -> _Context:
    """What compiled checks read: one per member, for all the rules it is checked against."""
    return _Context(facts, in_segment, as_utc(now or datetime.now(UTC)))


def compile_check(node: nodes.Node, salt: int) -> Check:
    """The rule as nested closures: the tree is walked once here, not on every member.

    Each closure computes exactly what the matching branch of the tree walk would (the
    property tests check it against the SQL); only the dispatch is done ahead of time."""
    match node:
        case nodes.And(operands):
            return _and([compile_check(o, salt) for o in operands])
        case nodes.Or(operands):
            return _or([compile_check(o, salt) for o in operands])
        case nodes.Not(operand):
            inner = compile_check(operand, salt)
            return lambda ctx: _negate(inner(ctx))
        case nodes.Compare(path, op, literal):
            return _compare_check(field_spec(path), op, literal)
        case nodes.InList(path, values, negated):
            spec = field_spec(path)
            get = _getter(spec)
            fast = _in_set(spec, get, values, negated)
            if fast is not None:
                return fast

            def in_list(ctx: _Context) -> bool | None:
                found = get(ctx.facts)
                result = _any(_compare(spec, found, "=", literal, ctx.now) for literal in values)
                return _negate(result) if negated else result

            return in_list
        case nodes.IsNull(path, negated):
            get = _getter(field_spec(path))
            return lambda ctx: (get(ctx.facts) is None) is not negated
        case nodes.Between(path, low, high):
            spec = field_spec(path)
            get = _getter(spec)

            def between(ctx: _Context) -> bool | None:
                found = get(ctx.facts)
                return _all(
                    (
                        _compare(spec, found, ">=", low, ctx.now),
                        _compare(spec, found, "<=", high, ctx.now),
                    )
                )

            return between
        case nodes.TextMatch(path, op, text):
            spec = field_spec(path)
            get = _getter(spec)
            return lambda ctx: _match(spec, get(ctx.facts), op, text)
        case nodes.Percent(percent):
            shift, threshold = salt_offset(salt), percent_threshold(percent)
            return lambda ctx: (ctx.facts.bucket + shift) % BUCKETS < threshold
        case nodes.InSegment(name):
            return lambda ctx: ctx.in_segment(name)
    raise TypeError(f"not a rule node: {node!r}")


def _and(checks: list[Check]) -> Check:
    def all_of(ctx: _Context) -> bool | None:
        result: bool | None = True
        for check in checks:
            value = check(ctx)
            if value is False:
                return False
            if value is None:
                result = None
        return result

    return all_of


def _or(checks: list[Check]) -> Check:
    def any_of(ctx: _Context) -> bool | None:
        result: bool | None = False
        for check in checks:
            value = check(ctx)
            if value is True:
                return True
            if value is None:
                result = None
        return result

    return any_of


_SAME_TYPE: dict[type, Callable[[Any], bool]] = {
    nodes.String: lambda v: isinstance(v, str),
    nodes.Number: lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    nodes.Boolean: lambda v: isinstance(v, bool),
}


def _compare_check(spec: FieldSpec, op: str, literal: nodes.Value) -> Check:
    """_compare with the literal's type and the operator chosen once."""
    get = _getter(spec)
    same_type = _SAME_TYPE.get(type(literal))
    if spec.kind == "timestamp" or same_type is None:
        return lambda ctx: _compare(spec, get(ctx.facts), op, literal, ctx.now)
    apply, wanted = _OPS[op], literal.value  # type: ignore[union-attr]

    def compare(ctx: _Context) -> bool | None:
        found = get(ctx.facts)
        if found is None or not same_type(found):
            return None
        return apply(found, wanted)

    return compare


def _in_set(
    spec: FieldSpec, get: Callable[[MemberFacts], Any], values: Any, negated: bool
) -> Check | None:
    """IN over literals all of one plain type, as one set lookup: a value of that type is
    in the list or not, any other value (or none) is unknown, as the literal-by-literal
    comparison says (None: not that case)."""
    kinds = {type(v) for v in values}
    same_type = _SAME_TYPE.get(next(iter(kinds))) if len(kinds) == 1 else None
    if spec.kind == "timestamp" or same_type is None:
        return None
    wanted = frozenset(v.value for v in values)

    def in_set(ctx: _Context) -> bool | None:
        found = get(ctx.facts)
        if found is None or not same_type(found):
            return None
        return (found not in wanted) if negated else (found in wanted)

    return in_set


def _getter(spec: FieldSpec) -> Callable[[MemberFacts], Any]:
    """A field's value for a member, or None when missing, JSON null, or no company."""
    column, keys, of_company = spec.column, spec.keys, spec.owner == "company"
    if not of_company and len(keys) == 1:
        key = keys[0]

        def get_key(facts: MemberFacts) -> Any:  # the common case, one attribute
            value = getattr(facts, column)
            return value.get(key) if isinstance(value, dict) else None

        return get_key

    def get(facts: MemberFacts) -> Any:
        owner: Any = facts.company if of_company else facts
        if owner is None:
            return None
        value = getattr(owner, column)
        for key in keys:
            if not isinstance(value, dict):
                return None
            value = value.get(key)
        return value

    return get


def _compare(
    spec: FieldSpec, found: Any, op: str, literal: nodes.Value, now: datetime
) -> bool | None:
    if found is None:
        return None
    if spec.kind == "timestamp":
        moment = literal_timestamp(literal, now)
        if moment is None or not isinstance(found, datetime):
            return None
        return _OPS[op](as_utc(found), moment)
    if isinstance(literal, nodes.String):
        same_type = isinstance(found, str)
    elif isinstance(literal, nodes.Number):
        same_type = isinstance(found, int | float) and not isinstance(found, bool)
    elif isinstance(literal, nodes.Boolean):
        same_type = isinstance(found, bool)
    else:
        # days_ago() is a time; only created_at and updated_at hold times
        return None
    return _OPS[op](found, literal.value) if same_type else None


def _match(spec: FieldSpec, found: Any, op: str, text: str) -> bool | None:
    if spec.kind == "timestamp":
        return None
    if isinstance(found, str):
        if op == "CONTAINS":
            return text in found
        if op == "STARTS WITH":
            return found.startswith(text)
        return found.endswith(text)
    if op == "CONTAINS" and isinstance(found, list):
        return any(isinstance(item, str) and item == text for item in found)
    return None


def _any(values: Iterable[bool | None]) -> bool | None:
    """SQL OR over a sequence."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def _all(values: Iterable[bool | None]) -> bool | None:
    """SQL AND over a sequence."""
    result: bool | None = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def _negate(value: bool | None) -> bool | None:
    return None if value is None else not value
