"""The rule parser: every construct, every problem with its position, normalized text, limits."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.rules import (
    MAX_DEPTH,
    MAX_RULE_LENGTH,
    MAX_TESTS,
    RULE_FIXED_FIELDS,
    And,
    Between,
    Boolean,
    Compare,
    DaysAgo,
    InList,
    InSegment,
    IsNull,
    Not,
    Number,
    Or,
    Percent,
    RuleProblem,
    String,
    TextMatch,
    ast_from_json,
    ast_to_json,
    fields_of,
    parse,
    segment_names_of,
)

TIER = "attributes.tier"

# ---------------------------------------------------------------- constructs

CONSTRUCTS = [
    ("attributes.tier = 'gold'", Compare(TIER, "=", String("gold"))),
    ("attributes.tier != 'gold'", Compare(TIER, "!=", String("gold"))),
    ("attributes.points < 10", Compare("attributes.points", "<", Number(10))),
    ("attributes.points <= 10.5", Compare("attributes.points", "<=", Number(10.5))),
    ("attributes.points > -3", Compare("attributes.points", ">", Number(-3))),
    ("attributes.points >= 1e3", Compare("attributes.points", ">=", Number(1000.0))),
    ("attributes.beta = true", Compare("attributes.beta", "=", Boolean(True))),
    ("attributes.beta = FALSE", Compare("attributes.beta", "=", Boolean(False))),
    ("created_at >= days_ago(30)", Compare("created_at", ">=", DaysAgo(30))),
    ("updated_at < '2024-01-01'", Compare("updated_at", "<", String("2024-01-01"))),
    ("id = 'm1'", Compare("id", "=", String("m1"))),
    ("email = 'a@b.c'", Compare("email", "=", String("a@b.c"))),
    ("name = 'Ann'", Compare("name", "=", String("Ann"))),
    ("company.id = 'c1'", Compare("company.id", "=", String("c1"))),
    ("company.name = 'Acme'", Compare("company.name", "=", String("Acme"))),
    ("company.plan = 'pro'", Compare("company.plan", "=", String("pro"))),
    ("company.attributes.size > 10", Compare("company.attributes.size", ">", Number(10))),
    ("attributes.a.b_2.C = 1", Compare("attributes.a.b_2.C", "=", Number(1))),
    (
        "attributes.tier IN ('gold', 1, true, days_ago(2))",
        InList(TIER, (String("gold"), Number(1), Boolean(True), DaysAgo(2)), False),
    ),
    ("attributes.tier NOT IN ('gold')", InList(TIER, (String("gold"),), True)),
    ("attributes.tier IS NULL", IsNull(TIER, False)),
    ("attributes.tier IS NOT NULL", IsNull(TIER, True)),
    ("attributes.points BETWEEN 1 AND 2.5", Between("attributes.points", Number(1), Number(2.5))),
    ("email CONTAINS 'x'", TextMatch("email", "CONTAINS", "x")),
    ("email STARTS WITH 'x'", TextMatch("email", "STARTS WITH", "x")),
    ("email ENDS WITH 'x'", TextMatch("email", "ENDS WITH", "x")),
    ("percent(20)", Percent(20)),
    ("percent(12.5)", Percent(12.5)),
    ("in_segment('beta testers')", InSegment("beta testers")),
    ("NOT percent(1)", Not(Percent(1))),
    ("NOT NOT percent(1)", Not(Not(Percent(1)))),
    ("percent(1) AND percent(2)", And((Percent(1), Percent(2)))),
    ("percent(1) OR percent(2)", Or((Percent(1), Percent(2)))),
    ("(percent(1))", Percent(1)),
    # precedence: NOT over AND over OR; chains are one n-ary node
    (
        "percent(1) OR percent(2) AND percent(3)",
        Or((Percent(1), And((Percent(2), Percent(3))))),
    ),
    (
        "(percent(1) OR percent(2)) AND percent(3)",
        And((Or((Percent(1), Percent(2))), Percent(3))),
    ),
    (
        "percent(1) AND (percent(2) AND percent(3)) AND percent(4)",
        And((Percent(1), Percent(2), Percent(3), Percent(4))),
    ),
    ("NOT percent(1) AND percent(2)", And((Not(Percent(1)), Percent(2)))),
    (
        "attributes.x BETWEEN 1 AND 2 AND percent(3)",
        And((Between("attributes.x", Number(1), Number(2)), Percent(3))),
    ),
    ("attributes.q = 'it''s'", Compare("attributes.q", "=", String("it's"))),
    ("attributes.q = ''", Compare("attributes.q", "=", String(""))),
    ("attributes.q = 'two\nlines'", Compare("attributes.q", "=", String("two\nlines"))),
    ("attributes.q = '-- not a comment'", Compare("attributes.q", "=", String("-- not a comment"))),
]


@pytest.mark.parametrize(("text", "tree"), CONSTRUCTS, ids=[c[0] for c in CONSTRUCTS])
def test_each_construct_parses_to_its_tree(text: str, tree: object) -> None:
    parsed = parse(text)
    assert parsed.problems == []
    assert parsed.ast == tree


def test_keywords_and_functions_are_case_insensitive() -> None:
    # given the same rule in two spellings
    lower = parse(
        "not attributes.a in (1) and attributes.b is not null or attributes.c between 1 and 2"
        " and email contains 'x' and email starts with 'y' and email ends with 'z'"
        " and Percent(5) and IN_SEGMENT('s') and created_at > Days_Ago(1) and attributes.d = True"
    )
    upper = parse(
        "NOT attributes.a IN (1) AND attributes.b IS NOT NULL OR attributes.c BETWEEN 1 AND 2"
        " AND email CONTAINS 'x' AND email STARTS WITH 'y' AND email ENDS WITH 'z'"
        " AND percent(5) AND in_segment('s') AND created_at > days_ago(1) AND attributes.d = TRUE"
    )
    # then
    assert lower.problems == []
    assert lower.ast == upper.ast


def test_field_names_are_case_sensitive() -> None:
    parsed = parse("Email = 'x' AND attributes.Tier = 'a' AND attributes.tier = 'b'")
    assert parsed.problems == [RuleProblem("unknown field 'Email' (did you mean email?)", 1, 1)]
    assert parse("attributes.Tier = 'a'").ast != parse("attributes.tier = 'a'").ast


def test_comments_run_to_the_end_of_the_line() -> None:
    parsed = parse(
        "-- gold members\nattributes.tier = 'gold' -- the best\n  AND percent(5)--tail\n--end"
    )
    assert parsed.problems == []
    assert parsed.ast == And((Compare(TIER, "=", String("gold")), Percent(5)))
    assert parsed.normalized == "attributes.tier = 'gold' AND percent(5)"


# ---------------------------------------------------------------- normalized text


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        (
            "attributes.tier   in('gold','platinum')and attributes.points>=1000",
            "attributes.tier IN ('gold', 'platinum') AND attributes.points >= 1000",
        ),
        ("((percent(1)))", "percent(1)"),
        ("(percent(1) AND percent(2)) OR percent(3)", "percent(1) AND percent(2) OR percent(3)"),
        ("percent(1) AND (percent(2) OR percent(3))", "percent(1) AND (percent(2) OR percent(3))"),
        ("not (percent(1) or percent(2))", "NOT (percent(1) OR percent(2))"),
        ("not (percent(1))", "NOT percent(1)"),
        ("NOT (attributes.x = 1)", "NOT attributes.x = 1"),
        ("percent(1) OR (percent(2) OR percent(3))", "percent(1) OR percent(2) OR percent(3)"),
        ("attributes.x = true", "attributes.x = TRUE"),
        ("attributes.x is not null", "attributes.x IS NOT NULL"),
        ("attributes.x = 'it''s'", "attributes.x = 'it''s'"),
        ("attributes.x = 1.50", "attributes.x = 1.5"),
        ("attributes.x = -0", "attributes.x = 0"),
        ("attributes.x = 2E2", "attributes.x = 200.0"),
        ("created_at > DAYS_AGO( 7 )", "created_at > days_ago(7)"),
        ("email starts   with 'a'", "email STARTS WITH 'a'"),
        ("IN_SEGMENT ( 'x' ) -- note", "in_segment('x')"),
        ("attributes.x\nBETWEEN 1\nAND 2", "attributes.x BETWEEN 1 AND 2"),
    ],
)
def test_normalized_text_is_canonical(text: str, normalized: str) -> None:
    parsed = parse(text)
    assert parsed.normalized == normalized
    assert parse(normalized).ast == parsed.ast


# ---------------------------------------------------------------- fields and segment names


def test_fields_and_segment_names_are_sorted_and_unique() -> None:
    parsed = parse(
        "email = 'x' AND attributes.tier = 'a' OR attributes.tier IS NULL"
        " OR company.plan = 'p' OR company.attributes.size > 1 OR in_segment('b')"
        " OR NOT in_segment('a') OR in_segment('b')"
    )
    assert parsed.fields == [
        "attributes.tier",
        "company.attributes.size",
        "company.plan",
        "email",
    ]
    assert parsed.segment_names == ["a", "b"]
    assert parsed.ast is not None
    assert fields_of(parsed.ast) == parsed.fields
    assert segment_names_of(parsed.ast) == parsed.segment_names


def test_fields_are_reported_even_when_the_rule_has_problems() -> None:
    parsed = parse("email = 'x' AND country = 'NO'")
    assert parsed.ast is None and parsed.normalized is None
    assert parsed.fields == ["email"]


# ---------------------------------------------------------------- problems


A_TEST = "expected a test (a field, percent(n) or in_segment('name'))"
A_VALUE = "expected a value (a 'string', a number, true, false or days_ago(n))"
OPERATORS = "=, !=, <, <=, >, >=, IN, NOT IN, IS, BETWEEN, CONTAINS, STARTS WITH, ENDS WITH"


def _problems(text: str) -> list[tuple[str, int, int]]:
    return [(p.message, p.line, p.column) for p in parse(text).problems]


PROBLEMS: list[tuple[str, list[tuple[str, int, int]]]] = [
    # unknown fields and bad keys (the parse goes on)
    (
        "country IS NULL",
        [("unknown field 'country' (did you mean attributes.country?)", 1, 1)],
    ),
    (
        "company.country = 'NO'",
        [("unknown field 'company.country' (did you mean company.attributes.country?)", 1, 1)],
    ),
    ("attributes = 1", [("unknown field 'attributes' (name a key, as in attributes.tier)", 1, 1)]),
    ("Attributes.x = 1", [("unknown field 'Attributes.x' (did you mean attributes.x?)", 1, 1)]),
    ("x.y-z = 1", [("unknown field 'x.y-z'", 1, 1)]),
    (
        "percent(1) AND attributes.1st = 1",
        [
            (
                "bad key '1st' in attributes.1st: a key is letters, digits and _, "
                "not starting with a digit",
                1,
                27,
            )
        ],
    ),
    (
        "company.attributes.a.b-c = 1",
        [
            (
                "bad key 'b-c' in company.attributes.a.b-c: a key is letters, digits and _, "
                "not starting with a digit",
                1,
                22,
            )
        ],
    ),
    ("attributes. = 1", [("expected a key after 'attributes.'", 1, 12)]),
    ("attributes.a..b = 1", [("expected a key after 'attributes.a.'", 1, 14)]),
    # strings
    ("email = 'abc", [("unterminated string (write '' for a quote inside)", 1, 9)]),
    ("email = 'it's'", [("expected AND, OR or end of rule, found 's'", 1, 13)]),
    ('email = "x"', [("strings are written in single quotes, as in 'gold'", 1, 9)]),
    ("email = 'a\x00b'", [("strings may not contain NUL characters", 1, 9)]),
    # percent(), days_ago(), in_segment()
    ("percent('x')", [("percent() takes a number from 0 to 100, not a string", 1, 9)]),
    ("percent(true)", [("percent() takes a number from 0 to 100, not a boolean", 1, 9)]),
    ("percent(100.01)", [("percent() takes a number from 0 to 100, not 100.01", 1, 9)]),
    ("percent(-1)", [("percent() takes a number from 0 to 100, not -1", 1, 9)]),
    ("percent(33.333)", [("percent() takes at most 2 decimal places, not 33.333", 1, 9)]),
    ("percent(days_ago(1))", [("percent() takes a number from 0 to 100, not days_ago()", 1, 9)]),
    ("percent 5", [("expected '(' after percent, found number 5", 1, 9)]),
    ("percent(5", [("expected ')' after the argument of percent(), found end of rule", 1, 10)]),
    ("created_at > days_ago(-1)", [("days_ago() takes a non-negative number, not -1", 1, 23)]),
    (
        "created_at > days_ago('x')",
        [("days_ago() takes a non-negative number, not a string", 1, 23)],
    ),
    ("created_at > days_ago(email)", [("expected a number of days, found 'email'", 1, 23)]),
    ("in_segment(5)", [("in_segment() takes a segment name in quotes, not a number", 1, 12)]),
    ("in_segment('')", [("in_segment() needs a segment name", 1, 12)]),
    # lists and bounds
    ("attributes.a IN ()", [("IN list is empty", 1, 17)]),
    ("attributes.a NOT IN ()", [("IN list is empty", 1, 21)]),
    (
        "attributes.a IN ('x',)",
        [(f"{A_VALUE}, found ')'", 1, 22)],
    ),
    (
        "attributes.a IN ('x' 'y')",
        [("expected ',' or ')' in the IN list, found string 'y'", 1, 22)],
    ),
    ("attributes.a IN 'x'", [("expected '(' to open the IN list, found string 'x'", 1, 17)]),
    (
        "attributes.a BETWEEN 1 AND 'z'",
        [("BETWEEN bounds must have the same type, not a number and a string", 1, 28)],
    ),
    (
        "created_at BETWEEN '2024-01-01' AND days_ago(1)",
        [("BETWEEN bounds must have the same type, not a string and days_ago()", 1, 37)],
    ),
    (
        "attributes.a BETWEEN 1 OR 2",
        [("expected AND between the two bounds of BETWEEN, found OR", 1, 24)],
    ),
    ("email CONTAINS 5", [("CONTAINS takes a 'string', not a number", 1, 16)]),
    ("email STARTS 'a'", [("expected WITH after STARTS, found string 'a'", 1, 14)]),
    ("email ENDS WITH true", [("ENDS WITH takes a 'string', not a boolean", 1, 17)]),
    # numbers
    ("attributes.a = 9223372036854775808", [("number out of range: 9223372036854775808", 1, 16)]),
    ("attributes.a = 1e999", [("number out of range: 1e999", 1, 16)]),
    ("attributes.a = 1.", [("unexpected character '.'", 1, 17)]),
    # syntax
    (
        "",
        [(f"{A_TEST}, found end of rule", 1, 1)],
    ),
    (
        "-- nothing\n",
        [(f"{A_TEST}, found end of rule", 2, 1)],
    ),
    (
        "email",
        [
            (
                f"expected an operator after email ({OPERATORS}), found end of rule",
                1,
                6,
            )
        ],
    ),
    (
        "email =",
        [
            (
                f"{A_VALUE} after '=', found end of rule",
                1,
                8,
            )
        ],
    ),
    (
        "email = name",
        [
            (
                f"{A_VALUE} after '=', found 'name'",
                1,
                9,
            )
        ],
    ),
    ("email = 'a' 'b'", [("expected AND, OR or end of rule, found string 'b'", 1, 13)]),
    (
        "email = 'a' AND",
        [(f"{A_TEST}, found end of rule", 1, 16)],
    ),
    (
        "AND email = 'a'",
        [(f"{A_TEST}, found AND", 1, 1)],
    ),
    ("(email = 'a'", [("expected AND, OR or ')', found end of rule", 1, 13)]),
    ("email = 'a')", [("expected AND, OR or end of rule, found ')'", 1, 12)]),
    ("email <> 'a'", [("'<>' is not an operator: write != rather than <>", 1, 7)]),
    ("email == 'a'", [("'==' is not an operator: write = rather than ==", 1, 7)]),
    ("email ! 'a'", [("unexpected character '!'", 1, 7)]),
    ("email IS 'a'", [("expected NULL or NOT NULL after IS, found string 'a'", 1, 10)]),
    ("email IS NOT 'a'", [("expected NULL after IS NOT, found string 'a'", 1, 14)]),
    ("email NOT LIKE 'a'", [("expected IN after NOT, found 'LIKE'", 1, 11)]),
    (
        "days_ago(1) > created_at",
        [(f"{A_TEST}, found 'days_ago'", 1, 1)],
    ),
    ("true", [(f"{A_TEST}, found TRUE", 1, 1)]),
    # semantic problems are all reported, then the first syntax error
    (
        "country = 1 AND percent(200) AND attributes.ok = 1 AND city = 2 AND",
        [
            ("unknown field 'country' (did you mean attributes.country?)", 1, 1),
            ("percent() takes a number from 0 to 100, not 200", 1, 25),
            ("unknown field 'city' (did you mean attributes.city?)", 1, 56),
            (
                f"{A_TEST}, found end of rule",
                1,
                68,
            ),
        ],
    ),
]


@pytest.mark.parametrize(("text", "problems"), PROBLEMS, ids=[p[0] for p in PROBLEMS])
def test_problem_is_reported_at_its_token(text: str, problems: list[tuple[str, int, int]]) -> None:
    parsed = parse(text)
    assert _problems(text) == problems
    assert parsed.ast is None and parsed.normalized is None


def test_problems_in_a_multi_line_rule_point_at_line_and_column() -> None:
    # given a rule over several lines, with a string spanning two of them
    text = (
        "attributes.tier = 'gold'  -- fine\n"
        "  AND attributes.note = 'two\n"
        "lines' AND country = 'NO'\n"
        "\tAND percent(101)\n"
        "  AND (email = 'x'"
    )
    # then
    assert _problems(text) == [
        ("unknown field 'country' (did you mean attributes.country?)", 3, 12),
        ("percent() takes a number from 0 to 100, not 101", 4, 14),
        ("expected AND, OR or ')', found end of rule", 5, 19),
    ]


def test_a_syntax_error_stops_the_parse() -> None:
    # given a syntax error before an unknown field: only the syntax error is reported
    assert _problems("email = = 'x' AND country = 1") == [
        (
            f"{A_VALUE} after '=', found '='",
            1,
            9,
        )
    ]


# ---------------------------------------------------------------- size limits


def test_text_up_to_the_length_limit_is_parsed() -> None:
    rule = "percent(5) -- "
    text = rule + "x" * (MAX_RULE_LENGTH - len(rule))
    assert len(text) == MAX_RULE_LENGTH
    assert parse(text).problems == []


def test_text_over_the_length_limit_is_refused() -> None:
    text = "percent(5) -- " + "x" * MAX_RULE_LENGTH
    assert _problems(text) == [
        (f"rule is too long: {len(text)} characters (the limit is {MAX_RULE_LENGTH})", 1, 1)
    ]


def test_up_to_the_test_limit_is_fine_and_one_more_is_refused() -> None:
    at_limit = " AND ".join(["percent(1)"] * MAX_TESTS)
    assert parse(at_limit).problems == []
    over = at_limit + "\nOR percent(2)"
    assert _problems(over) == [(f"rule has more than {MAX_TESTS} tests", 2, 4)]


def test_up_to_the_depth_limit_is_fine_and_one_more_level_is_refused() -> None:
    at_limit = "(" * MAX_DEPTH + "percent(1)" + ")" * MAX_DEPTH
    assert parse(at_limit).problems == []
    nots = "NOT " * MAX_DEPTH + "percent(1)"
    assert parse(nots).problems == []
    # a NOT inside parentheses counts as a level too
    over = "(" * (MAX_DEPTH - 1) + "NOT NOT percent(1)" + ")" * (MAX_DEPTH - 1)
    assert _problems(over) == [(f"rule is nested too deeply (more than {MAX_DEPTH} levels)", 1, 36)]


def test_deep_nesting_within_the_length_limit_is_refused_not_a_crash() -> None:
    text = "(" * 4000 + "percent(1)" + ")" * 4000
    assert _problems(text) == [(f"rule is nested too deeply (more than {MAX_DEPTH} levels)", 1, 33)]


def test_any_text_gets_a_tree_or_problems_never_an_exception() -> None:
    for text in ["'", "''''", "--", "(", ")", "-", "é", "attributes.é", "\x00", "1 2 3", "NOT"]:
        parsed = parse(text)
        assert (parsed.ast is None) == bool(parsed.problems)


# ---------------------------------------------------------------- JSON form


def test_json_form_round_trips_every_node_type() -> None:
    # given a rule with every node and literal type
    parsed = parse(
        "NOT (attributes.a = 'x' OR attributes.b IN (1, 2.5, true, days_ago(3)))"
        " AND email IS NOT NULL AND created_at BETWEEN days_ago(2) AND days_ago(1.5)"
        " AND email CONTAINS 'y' AND percent(12.5) AND in_segment('s')"
    )
    assert parsed.ast is not None
    # when it goes through JSON text, as segments.rule_ast does
    data = json.loads(json.dumps(ast_to_json(parsed.ast)))
    # then
    assert ast_from_json(data) == parsed.ast
    assert data["type"] == "and"
    assert data["operands"][0] == {
        "type": "not",
        "operand": {
            "type": "or",
            "operands": [
                {
                    "type": "compare",
                    "field": "attributes.a",
                    "op": "=",
                    "value": {"type": "string", "value": "x"},
                },
                {
                    "type": "in",
                    "field": "attributes.b",
                    "values": [
                        {"type": "number", "value": 1},
                        {"type": "number", "value": 2.5},
                        {"type": "boolean", "value": True},
                        {"type": "days_ago", "days": 3},
                    ],
                    "negated": False,
                },
            ],
        },
    }


@pytest.mark.parametrize(
    "data",
    [
        None,
        "percent",
        [],
        {"type": "string", "value": "x"},
        {"type": "nope"},
        {"type": "percent"},
        {"type": "percent", "value": 5, "extra": 1},
        {"type": "percent", "value": 101},
        {"type": "percent", "value": True},
        {"type": "compare", "field": "country", "op": "=", "value": {"type": "number", "value": 1}},
        {"type": "compare", "field": "email", "op": "~", "value": {"type": "number", "value": 1}},
        {"type": "compare", "field": "email", "op": "=", "value": 1},
        {"type": "in", "field": "email", "values": [], "negated": False},
        {"type": "and", "operands": [{"type": "percent", "value": 1}]},
        {"type": "not", "operand": {"type": "boolean", "value": True}},
        {"type": "days_ago", "days": -1},
    ],
)
def test_json_form_refuses_what_is_not_a_rule(data: object) -> None:
    with pytest.raises(ValueError):
        ast_from_json(data)


def test_fixed_fields_for_rule_editors() -> None:
    assert RULE_FIXED_FIELDS == [
        ("id", "string"),
        ("email", "string"),
        ("name", "string"),
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
        ("company.id", "string"),
        ("company.name", "string"),
        ("company.plan", "string"),
    ]


@settings(max_examples=500, deadline=None)
@given(
    text=st.one_of(
        st.text(max_size=60),
        st.lists(
            st.sampled_from(
                [
                    "attributes.a",
                    "email",
                    "(",
                    ")",
                    "NOT",
                    "AND",
                    "OR",
                    "IN",
                    "IS",
                    "NULL",
                    "BETWEEN",
                    "=",
                    "<",
                    ",",
                    "'x'",
                    "'",
                    "1",
                    "-2.5",
                    "true",
                    "days_ago",
                    "percent",
                    "in_segment",
                    "--",
                    "\n",
                    "STARTS",
                    "WITH",
                    "CONTAINS",
                ]
            ),
            max_size=12,
        ).map(" ".join),
    )
)
def test_any_text_parses_without_raising(text: str) -> None:
    # when
    parsed = parse(text)
    # then: a tree and its canonical text, or problems that point inside the text
    assert (parsed.ast is None) == bool(parsed.problems) == (parsed.normalized is None)
    lines = text.split("\n")
    for problem in parsed.problems:
        assert 1 <= problem.line <= len(lines)
        assert 1 <= problem.column <= len(lines[problem.line - 1]) + 1
    if parsed.normalized is not None:
        assert parse(parsed.normalized).ast == parsed.ast
