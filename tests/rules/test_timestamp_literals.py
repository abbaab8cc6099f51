"""A timestamp field (created_at, updated_at) compares with days_ago(n) and ISO-8601 strings
only: any other string, a number or a boolean would match nobody, so it is a problem at its
position, refused by validateRule and createSegment as INVALID_RULE."""

from __future__ import annotations

import pytest

from app.rules import parse
from tests.factories import Api

HINT = "compares with days_ago(n) or an ISO-8601 timestamp such as '2025-01-31T00:00:00Z'"


@pytest.mark.parametrize(
    ("rule", "positions"),
    [
        ("created_at > 'yesterday'", [(1, 14)]),
        ("created_at < 'yesterday'", [(1, 14)]),
        ("created_at > '2020'", [(1, 14)]),
        ("updated_at = ''", [(1, 14)]),
        ("name = 'x' AND\n  updated_at IN ('2024-01-01', 'soon')", [(2, 32)]),
        ("created_at BETWEEN 'then' AND '2024-01-01'", [(1, 20)]),
        ("created_at NOT IN ('x')", [(1, 20)]),
    ],
)
def test_a_string_that_is_no_timestamp_is_a_problem_at_its_position(
    rule: str, positions: list[tuple[int, int]]
) -> None:
    parsed = parse(rule)
    assert parsed.ast is None
    assert [(p.line, p.column) for p in parsed.problems] == positions
    assert all(HINT in p.message for p in parsed.problems)


@pytest.mark.parametrize(
    ("rule", "problems"),
    [
        ("created_at = 5", [(1, 14, "created_at", "number 5")]),
        ("updated_at > true", [(1, 14, "updated_at", "TRUE")]),
        ("created_at != FALSE", [(1, 15, "created_at", "FALSE")]),
        ("updated_at < -1.5", [(1, 14, "updated_at", "number -1.5")]),
        (
            "name = 'x' AND\n  created_at IN (days_ago(1), 20240220)",
            [(2, 31, "created_at", "number 20240220")],
        ),
        (
            "created_at BETWEEN 0 AND 1",
            [(1, 20, "created_at", "number 0"), (1, 26, "created_at", "number 1")],
        ),
        ("updated_at NOT IN ('2024-01-01', false)", [(1, 34, "updated_at", "FALSE")]),
    ],
)
def test_a_number_or_a_boolean_is_a_problem_at_its_position(
    rule: str, problems: list[tuple[int, int, str, str]]
) -> None:
    parsed = parse(rule)
    assert parsed.ast is None
    assert [(p.line, p.column, p.message) for p in parsed.problems] == [
        (line, column, f"{field} {HINT}, not {shown}") for line, column, field, shown in problems
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "created_at > '2020-01-01'",
        "created_at >= '2025-01-31T00:00:00Z'",
        "updated_at < '2024-01-31 12:00:00.123456+02:00'",
        "created_at > days_ago(3)",
        "created_at BETWEEN '2024-01-01' AND '2024-02-01'",
        "name > 'yesterday' AND attributes.ts > 'yesterday'",  # not timestamp fields
        "attributes.created_at = 5 AND attributes.n > true AND name != false",
    ],
)
def test_timestamps_and_other_fields_strings_stay_valid(rule: str) -> None:
    assert parse(rule).problems == []


VALIDATE = "query($rule: String!) { validateRule(rule: $rule) { valid problems { line column } } }"
CREATE = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { code message } }
}
"""


@pytest.mark.parametrize(
    "rule", ["created_at > 'yesterday'", "created_at = 5", "created_at > true"]
)
async def test_validate_rule_and_create_segment_refuse_a_non_timestamp(api: Api, rule: str) -> None:
    found = (await api.query(VALIDATE, {"rule": rule}))["validateRule"]
    assert found == {"valid": False, "problems": [{"line": 1, "column": 14}]}
    created = await api.query(
        CREATE, {"input": {"name": "recent", "type": "DYNAMIC", "rule": rule}}
    )
    assert created["createSegment"]["segment"] is None
    [error] = created["createSegment"]["userErrors"]
    assert error["code"] == "INVALID_RULE"
    assert "line 1" in error["message"] and "column 14" in error["message"]
