"""The lookups' statements as count_statements sees them: on PostgreSQL they go straight to
asyncpg's pool (past Tortoise's client), and are counted all the same, one per lookup."""

from __future__ import annotations

from typing import Any

import pytest

from app.db import is_postgres
from app.lookups import service as lookups
from tests.factories import Api, count_statements, members, segment

IS_MEMBER = "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
MEMBER_SEGMENTS = "query($m: ID!) { memberSegments(memberId: $m) { id name } }"
MEMBERSHIPS_OF = "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
EVALUATE = """
query($m: ID!) { evaluateFlags(memberId: $m) { key enabled matchedSegmentIds } }
"""
CREATE_FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) { featureFlag { key } userErrors { code message } }
}
"""


async def _world(api: Api) -> dict[str, str]:
    await members(api, "m1", "m2", attributes={"n": 1})
    listed = await segment(api, "Listed", memberIds=["m1"])
    rule = await segment(api, "Rule", type="DYNAMIC", rule="attributes.n = 1")
    for key, target in (("f-listed", listed), ("f-rule", rule)):
        data = await api.query(
            CREATE_FLAG, {"input": {"key": key, "segmentIds": [target["id"]], "enabled": True}}
        )
        assert data["createFeatureFlag"]["userErrors"] == []
    return {"listed": listed["id"], "rule": rule["id"]}


async def _statements(api: Api, document: str, variables: dict[str, Any]) -> tuple[list[str], Any]:
    """The statements of a lookup asked once more (its plan made, the catalogue read)."""
    for _ in range(2):
        await api.query(document, variables)
    with count_statements() as statements:
        data = await api.query(document, variables)
    return [s for s in statements if "api_keys" not in s], data


@pytest.mark.parametrize("lookup", ["isMember", "memberSegments", "membershipsOf", "evaluateFlags"])
async def test_a_lookup_is_one_statement_counted(api: Api, lookup: str) -> None:
    ids = await _world(api)
    document, variables, answer = {
        "isMember": (IS_MEMBER, {"s": ids["listed"], "m": "m1"}, {"isMember": True}),
        "memberSegments": (
            MEMBER_SEGMENTS,
            {"m": "m1"},
            {
                "memberSegments": [
                    {"id": ids["listed"], "name": "Listed"},
                    {"id": ids["rule"], "name": "Rule"},
                ]
            },
        ),
        "membershipsOf": (
            MEMBERSHIPS_OF,
            {"ids": ["m1", "m2"]},
            {
                "membershipsOf": [
                    {"memberId": "m1", "segmentIds": [ids["listed"], ids["rule"]]},
                    {"memberId": "m2", "segmentIds": [ids["rule"]]},
                ]
            },
        ),
        "evaluateFlags": (
            EVALUATE,
            {"m": "m2"},
            {
                "evaluateFlags": [
                    {"key": "f-listed", "enabled": False, "matchedSegmentIds": []},
                    {"key": "f-rule", "enabled": True, "matchedSegmentIds": [ids["rule"]]},
                ]
            },
        ),
    }[lookup]

    statements, data = await _statements(api, document, variables)

    assert data == answer
    assert len(statements) == 1, statements
    assert "members" in statements[0]


async def test_the_statements_sent_past_tortoise_are_counted(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the lookups' path straight to asyncpg's pool (PostgreSQL outside a transaction)
    ids = await _world(api)
    sent: list[str] = []
    direct = lookups.on_pool

    async def seen(pool: Any, text: str, params: Any) -> Any:
        sent.append(text)
        return await direct(pool, text, params)

    monkeypatch.setattr(lookups, "on_pool", seen)
    # when a lookup is asked, count_statements counts what was sent that way
    statements, data = await _statements(api, IS_MEMBER, {"s": ids["rule"], "m": "m2"})
    assert data == {"isMember": True}
    if is_postgres():
        assert sent and statements == sent[-1:]
    else:  # SQLite: through Tortoise's client, as every statement
        assert sent == [] and len(statements) == 1
