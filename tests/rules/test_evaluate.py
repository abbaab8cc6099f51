"""The Python evaluator: three-valued logic, each operator on each type of value, percent()."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any

import pytest

from app.rules import (
    Boolean,
    CompanyFacts,
    Compare,
    MemberFacts,
    Node,
    Number,
    String,
    Value,
    evaluate,
    parse,
)

NOW = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
ACME = CompanyFacts("acme", "Acme", "enterprise", {"size": 500, "tags": ["eu"]})
LOGIC = {"t": True, "f": False, "u": None}


def member(**overrides: Any) -> MemberFacts:
    fields: dict[str, Any] = {
        "external_id": "m1",
        "email": "ann@example.com",
        "name": "Ann",
        "created_at": NOW - timedelta(days=10),
        "updated_at": NOW - timedelta(days=1),
        "attributes": {},
        "bucket": 0,
        "company": None,
    }
    fields.update(overrides)
    return MemberFacts(**fields)


@cache
def _tree(rule: str) -> Node:
    parsed = parse(rule)
    assert parsed.ast is not None, parsed.problems
    return parsed.ast


def check(rule: str, facts: MemberFacts | None = None, *, salt: int = 0) -> bool | None:
    node = _tree(rule)
    return evaluate(
        node, facts or member(), salt=salt, in_segment=lambda name: LOGIC[name], now=NOW
    )


def attrs(**attributes: Any) -> MemberFacts:
    return member(attributes=attributes)


# ---------------------------------------------------------------- three-valued logic

VALUES = ["t", "f", "u"]
# SQL's truth tables, one unordered pair of operands per entry
AND: dict[tuple[str, str], bool | None] = {("t", "t"): True, ("t", "f"): False, ("t", "u"): None}
AND |= {("f", "f"): False, ("f", "u"): False, ("u", "u"): None}
OR: dict[tuple[str, str], bool | None] = {("t", "t"): True, ("t", "f"): True, ("t", "u"): True}
OR |= {("f", "f"): False, ("f", "u"): None, ("u", "u"): None}


@pytest.mark.parametrize(("a", "b"), [(a, b) for a in VALUES for b in VALUES])
def test_and_or_follow_sql_three_valued_logic(a: str, b: str) -> None:
    key = (a, b) if (a, b) in AND else (b, a)
    assert check(f"in_segment('{a}') AND in_segment('{b}')") is AND[key]
    assert check(f"in_segment('{a}') OR in_segment('{b}')") is OR[key]


def test_not_keeps_unknown_unknown() -> None:
    assert check("NOT in_segment('t')") is False
    assert check("NOT in_segment('f')") is True
    assert check("NOT in_segment('u')") is None
    assert check("NOT NOT in_segment('u')") is None


def test_a_missing_field_makes_a_test_and_its_negation_both_unknown() -> None:
    assert check("attributes.tier = 'gold'") is None
    assert check("NOT attributes.tier = 'gold'") is None
    assert check("attributes.tier = 'gold' OR NOT attributes.tier = 'gold'") is None


def test_in_segment_asks_the_callback_with_the_name() -> None:
    asked: list[str] = []

    def in_segment(name: str) -> bool | None:
        asked.append(name)
        return name == "beta"

    node = parse("in_segment('beta') AND NOT in_segment('staff')").ast
    assert node is not None
    assert evaluate(node, member(), salt=0, in_segment=in_segment) is True
    assert asked == ["beta", "staff"]


# ---------------------------------------------------------------- comparisons by type

TYPED: list[tuple[str, MemberFacts, bool | None]] = [
    # strings: case-sensitive, code point order
    ("attributes.s = 'gold'", attrs(s="gold"), True),
    ("attributes.s = 'Gold'", attrs(s="gold"), False),
    ("attributes.s != 'x'", attrs(s="gold"), True),
    ("attributes.s < 'h'", attrs(s="gold"), True),
    ("attributes.s < 'a'", attrs(s="B"), True),
    ("attributes.s >= 'gold'", attrs(s="gold"), True),
    ("attributes.s = 'gold'", attrs(s=1), None),
    ("attributes.s = '1'", attrs(s=1), None),
    ("attributes.s = 'true'", attrs(s=True), None),
    # numbers: int and float compare with each other, never with bools or numeric strings
    ("attributes.n = 1", attrs(n=1), True),
    ("attributes.n = 1", attrs(n=1.0), True),
    ("attributes.n = 1.0", attrs(n=1), True),
    ("attributes.n > 0.5", attrs(n=1), True),
    ("attributes.n <= -2", attrs(n=-2.5), True),
    ("attributes.n != 3", attrs(n=2.9999), True),
    ("attributes.n = 1", attrs(n=True), None),
    ("attributes.n = 0", attrs(n=False), None),
    ("attributes.n = 1", attrs(n="1"), None),
    ("attributes.n > 'x'", attrs(n=5), None),
    # booleans: only with booleans
    ("attributes.b = true", attrs(b=True), True),
    ("attributes.b = true", attrs(b=False), False),
    ("attributes.b != false", attrs(b=True), True),
    ("attributes.b > false", attrs(b=True), True),
    ("attributes.b = true", attrs(b=1), None),
    ("attributes.b = true", attrs(b="true"), None),
    # null and missing are unknown to comparisons; arrays and objects too
    ("attributes.x = 1", attrs(x=None), None),
    ("attributes.x = 1", attrs(), None),
    ("attributes.x = 1", attrs(x=[1]), None),
    ("attributes.x = 1", attrs(x={"a": 1}), None),
    # nested paths
    ("attributes.a.b = 2", attrs(a={"b": 2}), True),
    ("attributes.a.b.c = 'x'", attrs(a={"b": {"c": "x"}}), True),
    ("attributes.a.b = 2", attrs(a=2), None),
    ("attributes.a.b = 2", attrs(a=[{"b": 2}]), None),
    ("attributes.a.b = 2", attrs(a={"c": 2}), None),
    # days_ago() is a time: never equal to a JSON value
    ("attributes.t >= days_ago(1)", attrs(t=NOW.isoformat()), None),
    # fixed text fields
    ("id = 'm1'", member(), True),
    ("email = 'ann@example.com'", member(), True),
    ("email = 'x'", member(email=None), None),
    ("name > 'A'", member(), True),
    ("name = 1", member(), None),
    # company fields: unknown without a company
    ("company.id = 'acme'", member(company=ACME), True),
    ("company.name = 'Acme'", member(company=ACME), True),
    ("company.plan = 'enterprise'", member(company=ACME), True),
    ("company.plan = 'x'", member(company=CompanyFacts("c", "C", None)), None),
    ("company.attributes.size > 100", member(company=ACME), True),
    ("company.attributes.size > 100", member(company=CompanyFacts("c", "C", None)), None),
    ("company.name = 'Acme'", member(), None),
    ("company.attributes.size > 100", member(), None),
]


@pytest.mark.parametrize(
    ("rule", "facts", "expected"), TYPED, ids=[f"{t[0]} {t[1].attributes}" for t in TYPED]
)
def test_comparison(rule: str, facts: MemberFacts, expected: bool | None) -> None:
    assert check(rule, facts) is expected


# ---------------------------------------------------------------- timestamps


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("created_at >= days_ago(10)", True),
        ("created_at > days_ago(10)", False),
        ("created_at = days_ago(10)", True),
        ("created_at < days_ago(9.5)", True),
        ("created_at BETWEEN days_ago(11) AND days_ago(9)", True),
        ("updated_at >= days_ago(0)", False),
        ("created_at = '2024-02-20T12:00:00.123456+00:00'", True),
        ("created_at = '2024-02-20T14:00:00.123456+02:00'", True),
        ("created_at = '2024-02-20 12:00:00.123456'", True),
        ("created_at > '2024-02-20'", True),
        ("created_at < '2024-02-21T00:00:00Z'", True),
        ("created_at IN ('2024-01-01', days_ago(10))", True),
        ("created_at CONTAINS '2024'", None),
        ("created_at IS NULL", False),
        ("created_at > days_ago(1e300)", None),
    ],
)
def test_timestamps_compare_with_days_ago_and_iso_strings(rule: str, expected: bool | None) -> None:
    assert check(rule) is expected


@pytest.mark.parametrize(
    "literal", [String("yesterday"), Number(20240220), Boolean(True)], ids=repr
)
def test_a_stored_tree_comparing_a_timestamp_with_no_timestamp_is_unknown(literal: Value) -> None:
    # the parser refuses created_at < 'yesterday' (and a number, a boolean); a tree saved
    # before that still loads
    node = Compare("created_at", "<", literal)
    assert evaluate(node, member(), salt=0, in_segment=LOGIC.get, now=NOW) is None


def test_days_ago_counts_from_the_clock_when_now_is_not_given() -> None:
    node = parse("created_at >= days_ago(1)").ast
    assert node is not None
    recent = member(created_at=datetime.now(UTC) - timedelta(hours=1))
    old = member(created_at=datetime.now(UTC) - timedelta(days=2))
    assert evaluate(node, recent, salt=0, in_segment=LOGIC.get) is True
    assert evaluate(node, old, salt=0, in_segment=LOGIC.get) is False


def test_naive_datetimes_are_taken_as_utc() -> None:
    naive = member(created_at=(NOW - timedelta(days=10)).replace(tzinfo=None))
    assert check("created_at = days_ago(10)", naive) is True
    assert check("created_at = '2024-02-20T13:00:00.123456+01:00'", naive) is True
    other_zone = member(
        created_at=(NOW - timedelta(days=10)).astimezone(timezone(-timedelta(hours=5)))
    )
    assert check("created_at = days_ago(10)", other_zone) is True


# ---------------------------------------------------------------- IN, IS NULL, BETWEEN


@pytest.mark.parametrize(
    ("rule", "facts", "expected"),
    [
        ("attributes.s IN ('a', 'b')", attrs(s="b"), True),
        ("attributes.s IN ('a', 'b')", attrs(s="c"), False),
        ("attributes.s NOT IN ('a', 'b')", attrs(s="c"), True),
        ("attributes.s NOT IN ('a', 'b')", attrs(s="a"), False),
        # as SQL: an element of another type is unknown, so no match is unknown, not false
        ("attributes.s IN ('a', 1)", attrs(s="a"), True),
        ("attributes.s IN ('a', 1)", attrs(s="c"), None),
        ("attributes.s NOT IN ('a', 1)", attrs(s="c"), None),
        ("attributes.n IN (1, 2.5)", attrs(n=2.5), True),
        ("attributes.n IN (1, true)", attrs(n=True), True),
        ("attributes.n IN (1)", attrs(), None),
        ("attributes.n NOT IN (1)", attrs(), None),
        ("attributes.x IS NULL", attrs(), True),
        ("attributes.x IS NULL", attrs(x=None), True),
        ("attributes.x IS NULL", attrs(x=0), False),
        ("attributes.x IS NULL", attrs(x=""), False),
        ("attributes.x IS NULL", attrs(x=[]), False),
        ("attributes.x IS NOT NULL", attrs(x=False), True),
        ("attributes.x.y IS NULL", attrs(x=5), True),
        ("email IS NULL", member(email=None), True),
        ("company.plan IS NULL", member(), True),
        ("company.attributes.x IS NULL", member(), True),
        ("company.name IS NOT NULL", member(company=ACME), True),
        ("attributes.n BETWEEN 1 AND 3", attrs(n=1), True),
        ("attributes.n BETWEEN 1 AND 3", attrs(n=3.0), True),
        ("attributes.n BETWEEN 1 AND 3", attrs(n=3.5), False),
        ("attributes.n BETWEEN 1 AND 3", attrs(n="2"), None),
        ("attributes.s BETWEEN 'a' AND 'c'", attrs(s="b"), True),
        ("attributes.s BETWEEN 'a' AND 'c'", attrs(s="B"), False),
        ("NOT attributes.n BETWEEN 1 AND 3", attrs(n=7), True),
    ],
)
def test_in_is_null_between(rule: str, facts: MemberFacts, expected: bool | None) -> None:
    assert check(rule, facts) is expected


# ---------------------------------------------------------------- CONTAINS, STARTS WITH, ENDS WITH


@pytest.mark.parametrize(
    ("rule", "facts", "expected"),
    [
        ("attributes.s CONTAINS 'ol'", attrs(s="gold"), True),
        ("attributes.s CONTAINS 'OL'", attrs(s="gold"), False),
        ("attributes.s CONTAINS ''", attrs(s="gold"), True),
        ("attributes.s CONTAINS '%'", attrs(s="gold"), False),
        ("attributes.s CONTAINS '_'", attrs(s="gold"), False),
        ("attributes.s STARTS WITH 'go'", attrs(s="gold"), True),
        ("attributes.s STARTS WITH 'Go'", attrs(s="gold"), False),
        ("attributes.s ENDS WITH 'ld'", attrs(s="gold"), True),
        ("attributes.s ENDS WITH 'xgold'", attrs(s="gold"), False),
        ("attributes.s ENDS WITH '😀'", attrs(s="a😀"), True),
        ("attributes.s CONTAINS '1'", attrs(s=1), None),
        ("attributes.s CONTAINS 'a'", attrs(), None),
        # arrays: CONTAINS is membership of an equal string element
        ("attributes.tags CONTAINS 'vip'", attrs(tags=["a", "vip"]), True),
        ("attributes.tags CONTAINS 'vi'", attrs(tags=["a", "vip"]), False),
        ("attributes.tags CONTAINS 'vip'", attrs(tags=[]), False),
        ("attributes.tags CONTAINS '1'", attrs(tags=[1, True]), False),
        ("attributes.tags CONTAINS 'a'", attrs(tags=[["a"]]), False),
        ("NOT attributes.tags CONTAINS 'vip'", attrs(tags=["a"]), True),
        ("attributes.tags STARTS WITH 'vip'", attrs(tags=["vip"]), None),
        ("attributes.tags CONTAINS 'vip'", attrs(tags={"vip": 1}), None),
        ("company.attributes.tags CONTAINS 'eu'", member(company=ACME), True),
        ("email ENDS WITH '@example.com'", member(), True),
        ("email ENDS WITH '@EXAMPLE.COM'", member(), False),
        ("email STARTS WITH 'a'", member(email=None), None),
        ("company.name CONTAINS 'cm'", member(company=ACME), True),
    ],
)
def test_text_matching(rule: str, facts: MemberFacts, expected: bool | None) -> None:
    assert check(rule, facts) is expected


# ---------------------------------------------------------------- percent()


def _slice(rule: str, salt: int) -> set[int]:
    return {b for b in range(10_000) if check(rule, member(bucket=b), salt=salt)}


@pytest.mark.parametrize("salt", [0, 1, 4242, 9999, -7, 123_456_789])
def test_percent_keeps_exactly_n_percent_of_buckets(salt: int) -> None:
    assert len(_slice("percent(20)", salt)) == 2000
    assert len(_slice("percent(12.34)", salt)) == 1234
    assert len(_slice("percent(0)", salt)) == 0
    assert len(_slice("percent(100)", salt)) == 10_000


@pytest.mark.parametrize("salt", [0, 4242, -7])
def test_percent_grows_monotonically(salt: int) -> None:
    # a rollout from 20 % to 30 % keeps everyone who was in
    assert _slice("percent(20)", salt) < _slice("percent(30)", salt)
    assert _slice("percent(0.01)", salt) < _slice("percent(0.02)", salt)


def test_percent_is_stable_and_differs_by_salt() -> None:
    assert _slice("percent(20)", 5) == _slice("percent(20)", 5)
    assert _slice("percent(20)", 5) != _slice("percent(20)", 6)
    assert _slice("percent(20)", 5) == _slice("percent(20)", 10_005)
    # the salt shifts the slice: bucket b is in when (b + salt) % 10000 < threshold
    assert _slice("percent(1)", 0) == set(range(100))
    assert _slice("percent(1)", 9_950) == set(range(50, 150))


def test_percent_of_real_member_ids_is_about_n_percent() -> None:
    from app.members.models import bucket_of

    ids = [f"user-{i}" for i in range(10_000)]
    inside = [i for i in ids if check("percent(25)", member(bucket=bucket_of(i)), salt=77)]
    assert 2300 < len(inside) < 2700
