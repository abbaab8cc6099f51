"""Hypothesis strategies: random rule trees and random members over a small shared vocabulary.

Literals and stored values come from overlapping pools, so that rules match some members
and miss others, and every type meets every other type. Besides the general strategies
there are narrow ones (strings, times, numbers) that hit the easy-to-get-wrong cases often:
case, substrings, microseconds and time zones, int/float/bool.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import strategies as st

from app.rules import (
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
    format_rule,
    parse,
)
from tests.rules.support import NOW, SEGMENTS, CompanyRow, MemberRow

JSON_FIELDS = [
    "attributes.s",
    "attributes.n",
    "attributes.b",
    "attributes.arr",
    "attributes.obj.x",
    "attributes.gone",
    "company.attributes.s",
    "company.attributes.n",
]
TEXT_FIELDS = ["id", "email", "name", "company.id", "company.name", "company.plan"]
TIME_FIELDS = ["created_at", "updated_at"]
STRING_FIELDS = ["attributes.s", "attributes.arr", "attributes.obj.x", "name", "email"]
STRING_FIELDS += ["company.name", "id"]

STRINGS = ["", "a", "ab", "b", "A", "ba", "gold", "é", "😀", "a😀", "o'k", "m1", "acme", "Acme"]
STRINGS += ["2024-01-31T12:00:00.123456Z", "2024-02-01", "not a date", '["a"]', "[]", "1", "true"]
NUMBERS: list[int | float] = [-1, 0, 1, 2, 10, 1500, 2.5, -0.5, 1.0, 0.1, 0.3, 0.30000000000000004]
NUMBERS += [1e3, 2**53, 9007199254740991.0, 1e15, -0.0]
DAYS: list[int | float] = [0, 1, 1.5, 30, 365]
PERCENTS: list[int | float] = [0, 0.01, 12.5, 20, 33.33, 50, 99.99, 100]
COMPARE_OPS = ["=", "!=", "<", "<=", ">", ">="]
MATCH_OPS = ["CONTAINS", "STARTS WITH", "ENDS WITH"]

# ---------------------------------------------------------------- literals

strings = st.sampled_from(STRINGS)
# short strings in both cases, with LIKE's wildcards: where a case-insensitive or
# pattern-matching mistake would show
short_strings = st.text(alphabet="aAbé😀%_", max_size=3)
numbers = st.sampled_from(NUMBERS)


@st.composite
def moments(draw: st.DrawFn) -> datetime:
    """Instants near NOW - DAYS (to the microsecond either side), in several time zones."""
    days = draw(st.sampled_from([*DAYS, 2, 400]))
    moment = NOW - timedelta(days=days) + draw(st.sampled_from(_JITTER))
    return moment.astimezone(draw(st.sampled_from(_ZONES)))


_ZONES = [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
_JITTER = [
    timedelta(0),
    timedelta(microseconds=1),
    -timedelta(microseconds=1),
    -timedelta(microseconds=NOW.microsecond),  # a whole second: stored without a fraction
    timedelta(hours=7),
]
# ISO-8601 spellings of the same instants the members are given
_SPELLINGS = [
    lambda m: m.isoformat(),
    lambda m: m.isoformat(sep=" "),
    lambda m: m.astimezone(UTC).replace(tzinfo=None).isoformat(),
    lambda m: m.astimezone(UTC).isoformat().replace("+00:00", "Z"),
    lambda m: m.date().isoformat(),
]
iso_strings = st.builds(lambda m, spell: spell(m), moments(), st.sampled_from(_SPELLINGS))

_by_kind: dict[str, st.SearchStrategy[Value]] = {
    "string": st.one_of(strings, short_strings, iso_strings).map(String),
    "number": numbers.map(Number),
    "boolean": st.booleans().map(Boolean),
    "days_ago": st.sampled_from(DAYS).map(DaysAgo),
}
values: st.SearchStrategy[Value] = st.one_of(*_by_kind.values())
string_values: st.SearchStrategy[Value] = st.one_of(short_strings, strings).map(String)
number_values: st.SearchStrategy[Value] = _by_kind["number"]
time_values: st.SearchStrategy[Value] = st.one_of(
    _by_kind["days_ago"], iso_strings.map(String), strings.map(String)
)

# ---------------------------------------------------------------- rules


def _tests(
    fields: list[str], literals: st.SearchStrategy[Value], texts: st.SearchStrategy[str]
) -> list[st.SearchStrategy[Node]]:
    field = st.sampled_from(fields)
    return [
        st.builds(Compare, field, st.sampled_from(COMPARE_OPS), literals),
        st.builds(
            InList, field, st.lists(literals, min_size=1, max_size=4).map(tuple), st.booleans()
        ),
        st.builds(IsNull, field, st.booleans()),
        st.builds(TextMatch, field, st.sampled_from(MATCH_OPS), texts),
    ]


@st.composite
def _between(draw: st.DrawFn, fields: list[str], kinds: list[str]) -> Between:
    kind = draw(st.sampled_from(kinds))
    literal = _by_kind[kind] if kind != "iso" else iso_strings.map(String)
    return Between(draw(st.sampled_from(fields)), draw(literal), draw(literal))


def _rules(leaves: st.SearchStrategy[Node], max_leaves: int = 8) -> st.SearchStrategy[Node]:
    def extend(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
        operands = st.lists(children, min_size=2, max_size=3).map(tuple)
        return st.one_of(children.map(Not), operands.map(And), operands.map(Or))

    return st.recursive(leaves, extend, max_leaves=max_leaves)


def _writable(leaf: Node) -> bool:
    """A test one can write: the parser takes its text (it refuses a timestamp field against
    a string that is no ISO-8601 timestamp, a number or a boolean; ``time_rules`` keep those,
    as trees saved before)."""
    return not parse(format_rule(leaf)).problems


_ALL_FIELDS = JSON_FIELDS + TEXT_FIELDS + TIME_FIELDS
# rules that can be written (and saved through the API, as other tests do)
rules = _rules(
    st.one_of(
        *_tests(_ALL_FIELDS, values, st.one_of(strings, short_strings)),
        _between(_ALL_FIELDS, sorted(_by_kind)),
        st.sampled_from(PERCENTS).map(Percent),
        st.sampled_from(sorted(SEGMENTS)).map(InSegment),
    ).filter(_writable)
)
string_rules = _rules(
    st.one_of(
        *_tests(STRING_FIELDS, string_values, short_strings), _between(STRING_FIELDS, ["string"])
    )
)
time_rules = _rules(
    st.one_of(
        *_tests(TIME_FIELDS, time_values, strings), _between(TIME_FIELDS, ["days_ago", "iso"])
    )
)
number_rules = _rules(
    st.one_of(
        *_tests(["attributes.n", "company.attributes.n", "attributes.arr"], number_values, strings),
        _between(["attributes.n"], ["number"]),
    )
)
percent_rules = _rules(st.sampled_from(PERCENTS).map(Percent), max_leaves=3)


def flatten(node: Node) -> Node:
    """The tree the parser builds for the same text: nested AND in AND (OR in OR) merged."""
    if isinstance(node, Not):
        return Not(flatten(node.operand))
    if isinstance(node, And | Or):
        merged: list[Node] = []
        for operand in map(flatten, node.operands):
            same = isinstance(operand, type(node))
            merged.extend(operand.operands if same else (operand,))  # type: ignore[union-attr]
        return type(node)(tuple(merged))
    return node


# ---------------------------------------------------------------- members

_text = st.text(alphabet="abAB é😀'%_", max_size=4)
_texts = st.one_of(strings, _text, short_strings)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    _texts,
    numbers,
    st.integers(-5, 2000),
    st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
)
json_values = st.one_of(
    scalars,
    st.lists(st.one_of(scalars, st.lists(scalars, max_size=2)), max_size=4),
    st.dictionaries(st.sampled_from(["x", "y"]), scalars, max_size=2),
)
_MISSING = object()


def _usually(typical: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Mostly values of the key's usual type, sometimes any other JSON value, or no key."""
    return st.one_of(typical, typical, json_values, st.just(_MISSING))


_keys: dict[str, st.SearchStrategy[object]] = {
    "s": _usually(_texts),
    "n": _usually(st.one_of(numbers, st.integers(-5, 2000), st.floats(-1e15, 1e15))),
    "b": _usually(st.booleans()),
    "arr": _usually(st.lists(st.one_of(_texts, scalars), max_size=4)),
    "obj": _usually(st.fixed_dictionaries({"x": st.one_of(_texts, scalars)})),
}
attributes = st.fixed_dictionaries(_keys).map(
    lambda drawn: {k: v for k, v in drawn.items() if v is not _MISSING}
)
# next to the percent() thresholds (12.5 -> 1250, 50 -> 5000, ...) so that < vs <= shows
_BUCKETS = [0, 1, 2, 1249, 1250, 3332, 3333, 4999, 5000, 9998, 9999]
buckets = st.one_of(st.integers(0, 9999), st.sampled_from(_BUCKETS))
salts = st.one_of(st.sampled_from([0, 1, -1, 10000, -5000]), st.integers(-20000, 20000))

companies = st.builds(
    CompanyRow,
    st.sampled_from(["c1", "c2"]),
    st.one_of(st.sampled_from(["Acme", "acme"]), short_strings),
    st.one_of(st.none(), strings),
    attributes,
)


@st.composite
def members(draw: st.DrawFn, max_size: int = 6) -> list[MemberRow]:
    count = draw(st.integers(1, max_size))
    by_id: dict[str, CompanyRow] = {}
    rows = []
    for i in range(count):
        company = draw(st.one_of(st.none(), companies))
        if company is not None:
            # one company row per id: later members share the first one drawn
            company = by_id.setdefault(company.external_id, company)
        rows.append(
            MemberRow(
                f"m{i}",
                email=draw(st.one_of(st.none(), _texts)),
                name=draw(st.one_of(st.none(), _texts)),
                attributes=draw(attributes),
                bucket=draw(buckets),
                created_at=draw(moments()),
                updated_at=draw(moments()),
                company=company,
            )
        )
    return rows
