"""evaluateFlags: a flag is on for a member when it is enabled and the member is an effective
member (listed, via company, by rule, not excluded) of one of its ACTIVE target segments."""

from __future__ import annotations

from typing import Any

import pytest

from app.flags import service as flag_service
from app.lookups import service as lookups
from tests.factories import Api, companies, count_fetches, members, segment

EVALUATE = """
query($m: ID!, $keys: [String!]) {
  evaluateFlags(memberId: $m, keys: $keys) { key enabled matchedSegmentIds }
}
"""
CREATE_FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) { featureFlag { key } userErrors { code message } }
}
"""
EXCLUDE = """
mutation($i: UpdateSegmentExclusionsInput!) { updateSegmentExclusions(input: $i) { added } }
"""


async def _flag(api: Api, key: str, segment_ids: list[str], enabled: bool = True) -> None:
    data = await api.query(
        CREATE_FLAG, {"input": {"key": key, "segmentIds": segment_ids, "enabled": enabled}}
    )
    assert data["createFeatureFlag"]["userErrors"] == []


async def _evaluate(api: Api, member: str, keys: list[str] | None = None) -> dict[str, Any]:
    data = await api.query(EVALUATE, {"m": member, "keys": keys})
    return {e["key"]: (e["enabled"], e["matchedSegmentIds"]) for e in data["evaluateFlags"]}


async def _world(api: Api) -> dict[str, str]:
    await companies(api, "acme")
    await members(api, "listed", "excluded", "nobody")
    await members(api, "employee", companyId="acme")
    await members(api, "gold", attributes={"tier": "gold"})
    listed = await segment(api, "Listed", memberIds=["listed", "excluded"])
    by_company = await segment(api, "Company", companyIds=["acme"])
    by_rule = await segment(api, "Rule", type="DYNAMIC", rule="attributes.tier = 'gold'")
    paused = await segment(api, "Paused", memberIds=["listed"], isActive=False)
    await api.query(
        EXCLUDE, {"i": {"segmentId": listed["id"], "memberIds": ["excluded"], "mode": "ADD"}}
    )
    ids = {s["name"]: s["id"] for s in (listed, by_company, by_rule, paused)}
    await _flag(api, "all", [ids["Listed"], ids["Company"], ids["Rule"]])
    await _flag(api, "paused-only", [ids["Paused"]])
    await _flag(api, "off", [ids["Listed"]], enabled=False)
    await _flag(api, "nobody", [])
    return ids


async def test_each_way_in_and_out(api: Api) -> None:
    ids = await _world(api)
    answers = {m: await _evaluate(api, m) for m in ["listed", "employee", "gold", "excluded"]}
    assert answers["listed"] == {
        "all": (True, [ids["Listed"]]),
        "nobody": (False, []),
        "off": (False, [ids["Listed"]]),
        "paused-only": (False, []),
    }
    assert answers["employee"]["all"] == (True, [ids["Company"]])
    assert answers["gold"]["all"] == (True, [ids["Rule"]])
    assert answers["excluded"]["all"] == (False, [])
    # every flag, in key order
    assert list(answers["listed"]) == ["all", "nobody", "off", "paused-only"]


async def test_keys_asked_come_in_that_order_and_unknown_keys_are_off(api: Api) -> None:
    ids = await _world(api)
    data = await api.query(EVALUATE, {"m": "listed", "keys": ["ghost", "all", "off"]})
    assert data["evaluateFlags"] == [
        {"key": "ghost", "enabled": False, "matchedSegmentIds": []},
        {"key": "all", "enabled": True, "matchedSegmentIds": [ids["Listed"]]},
        {"key": "off", "enabled": False, "matchedSegmentIds": [ids["Listed"]]},
    ]


async def test_an_unknown_member_gets_every_flag_off(api: Api) -> None:
    await _world(api)
    answers = await _evaluate(api, "ghost")
    assert all(enabled is False for enabled, _ in answers.values())


async def test_too_many_keys_is_refused(api: Api) -> None:
    body = await api.raw(EVALUATE, {"m": "x", "keys": [f"k{i}" for i in range(1001)]})
    assert body["errors"][0]["extensions"]["code"] == "TOO_LARGE"


async def test_another_sites_flags_and_segments_are_not_seen(api: Api, other_api: Api) -> None:
    await members(other_api, "m1")
    theirs = await segment(other_api, "Theirs", memberIds=["m1"])
    await _flag(other_api, "their-flag", [theirs["id"]])
    await members(api, "m1")
    assert await _evaluate(api, "m1") == {}
    assert await _evaluate(api, "m1", ["their-flag"]) == {"their-flag": (False, [])}


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the lookups (and what they read) send to the database."""
    return count_fetches(monkeypatch, lookups, flag_service)


@pytest.mark.parametrize("flag_count", [1, 8])
async def test_an_evaluation_costs_one_statement_whatever_the_number_of_flags(
    api: Api, statements: list[str], flag_count: int
) -> None:
    await members(api, "m1", attributes={"n": 1})
    seg = await segment(api, "Rule", type="DYNAMIC", rule="attributes.n = 1")
    for i in range(flag_count):
        await _flag(api, f"f{i}", [seg["id"]])
    await _evaluate(api, "m1")
    statements.clear()
    answers = await _evaluate(api, "m1")
    assert all(enabled for enabled, _ in answers.values()) and len(answers) == flag_count
    assert len(statements) == 1  # the flags read in the member's lookup
