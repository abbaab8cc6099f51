"""A timestamp field (created_at, updated_at) compares with days_ago(n) and ISO-8601 strings
only: any other string would match nobody, so it is a problem at its position, refused by
validateRule and createSegment as INVALID_RULE."""

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
    "rule",
    [
        "created_at > '2020-01-01'",
        "created_at >= '2025-01-31T00:00:00Z'",
        "updated_at < '2024-01-31 12:00:00.123456+02:00'",
        "created_at > days_ago(3)",
        "created_at BETWEEN '2024-01-01' AND '2024-02-01'",
        "name > 'yesterday' AND attributes.ts > 'yesterday'",  # not timestamp fields
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


async def test_validate_rule_and_create_segment_refuse_a_non_timestamp(api: Api) -> None:
    rule = "created_at > 'yesterday'"
    found = (await api.query(VALIDATE, {"rule": rule}))["validateRule"]
    assert found == {"valid": False, "problems": [{"line": 1, "column": 14}]}
    created = await api.query(
        CREATE, {"input": {"name": "recent", "type": "DYNAMIC", "rule": rule}}
    )
    assert created["createSegment"]["segment"] is None
    [error] = created["createSegment"]["userErrors"]
    assert error["code"] == "INVALID_RULE"
    assert "line 1" in error["message"] and "column 14" in error["message"]
