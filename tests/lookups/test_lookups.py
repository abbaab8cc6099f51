"""Lookups: isMember, memberSegments, membershipsOf, explainMembership, Member.segments and
Company.segments, over lists, companies, rules, exclusions, expiry and status windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.db import execute
from app.lookups import service as lookups
from app.memberships import catalogue
from tests.factories import Api, companies, count_fetches, members, segment

IS_MEMBER = "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
MEMBER_SEGMENTS = """
query($m: ID!, $all: Boolean) { memberSegments(memberId: $m, includeInactive: $all) { id name } }
"""
MEMBERSHIPS_OF = "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
EXPLAIN = """
query($s: ID!, $m: ID!) {
  explainMembership(segmentId: $s, memberId: $m) { segmentId memberId isMember reasons }
}
"""
MEMBER_WITH_SEGMENTS = """
query($m: ID!) {
  member(id: $m) { id segments { name } all: segments(includeInactive: true) { name } }
}
"""
COMPANY_WITH_SEGMENTS = """
query($c: ID!) {
  company(id: $c) { segments { name } all: segments(includeInactive: true) { name } }
}
"""
MEMBERS_PAGE = """
query { members(first: 50) { edges { node { id segments { name } } } } }
"""
UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added userErrors { code } }
}
"""
EXCLUDE = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added userErrors { code } }
}
"""
UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { status } userErrors { code message } }
}
"""


async def _is_member(api: Api, segment_id: str, member_id: str) -> bool:
    answer: bool = (await api.query(IS_MEMBER, {"s": segment_id, "m": member_id}))["isMember"]
    return answer


async def _reasons(api: Api, segment_id: str, member_id: str) -> tuple[bool, list[str]]:
    found = (await api.query(EXPLAIN, {"s": segment_id, "m": member_id}))["explainMembership"]
    return found["isMember"], found["reasons"]


async def _world(api: Api) -> dict[str, str]:
    """Members and segments covering every way in and out of a segment."""
    await companies(api, "acme", plan="enterprise")
    await members(api, "listed", "expired", "excluded", "nobody")
    await members(api, "employee", companyId="acme")
    await members(api, "gold", attributes={"tier": "gold"})
    seg = await segment(api, "S", type="DYNAMIC", rule="attributes.tier = 'gold'")
    sid = seg["id"]
    await api.query(
        UPDATE_MEMBERS,
        {
            "input": {
                "segmentId": sid,
                "memberIds": ["listed", "excluded", "expired"],
                "mode": "ADD",
            }
        },
    )
    await execute(
        "UPDATE segment_members SET expires_at = $1 WHERE member_id ="
        " (SELECT id FROM members WHERE external_id = 'expired' AND site_id = $2)",
        [datetime.now(UTC) - timedelta(hours=1), api.site.id],
    )
    # as if that expiry had passed since the site's expiries were last recorded (the next
    # membership write records it)
    await execute(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [datetime.now(UTC) - timedelta(hours=2), api.site.id],
    )
    await api.query(
        "mutation($input: UpdateSegmentCompaniesInput!) { updateSegmentCompanies(input: $input)"
        " { added } }",
        {"input": {"segmentId": sid, "companyIds": ["acme"], "mode": "ADD"}},
    )
    await api.query(
        EXCLUDE, {"input": {"segmentId": sid, "memberIds": ["excluded"], "mode": "ADD"}}
    )
    return {"S": sid}


async def test_is_member_follows_lists_companies_rules_exclusions_and_expiry(api: Api) -> None:
    # given a DYNAMIC segment reached every way
    ids = await _world(api)
    # when asked member by member
    answers = {m: await _is_member(api, ids["S"], m) for m in _ALL}
    # then only the listed, company and rule members are in
    assert answers == {
        "listed": True,
        "employee": True,
        "gold": True,
        "expired": False,
        "excluded": False,
        "nobody": False,
        "ghost": False,
    }


_ALL = ["listed", "employee", "gold", "expired", "excluded", "nobody", "ghost"]


async def test_each_explanation_reason(api: Api) -> None:
    # given the same world
    ids = await _world(api)
    # when each member is explained
    found = {m: await _reasons(api, ids["S"], m) for m in _ALL}
    # then every reason shows where it applies
    assert found == {
        "listed": (True, ["LISTED"]),
        "employee": (True, ["COMPANY"]),
        "gold": (True, ["RULE"]),
        "expired": (False, ["EXPIRED"]),
        "excluded": (False, ["LISTED", "EXCLUDED"]),
        "nobody": (False, ["NO_MATCH"]),
        "ghost": (False, ["UNKNOWN_MEMBER"]),
    }


async def test_lookups_agree_with_listing_and_count(api: Api) -> None:
    # given the same world
    ids = await _world(api)
    # when the segment is listed (SQL) and each member looked up (Python)
    data = await api.query(
        "query($id: ID!) { segment(id: $id) { memberCount"
        " members { edges { node { id } source } } } }",
        {"id": ids["S"]},
    )
    listed = {e["node"]["id"]: e["source"] for e in data["segment"]["members"]["edges"]}
    looked_up = {m for m in _ALL if await _is_member(api, ids["S"], m)}
    # then both say the same, and the listing says how each is a member
    assert listed == {"listed": "MANUAL", "employee": "COMPANY", "gold": "RULE"}
    assert set(listed) == looked_up
    assert data["segment"]["memberCount"] == 3


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"isActive": False}, "INACTIVE"),
        ({"startsAt": "2999-01-01T00:00:00Z"}, "SCHEDULED"),
        ({"startsAt": "2000-01-01T00:00:00Z", "endsAt": "2001-01-01T00:00:00Z"}, "EXPIRED"),
    ],
)
async def test_segments_not_active_count_only_when_asked(
    api: Api, change: dict[str, Any], status: str
) -> None:
    # given a member listed in a segment that is no longer ACTIVE
    await members(api, "m1")
    seg = await segment(api, "Later", memberIds=["m1"])
    assert await _is_member(api, seg["id"], "m1") is True
    made = await api.query(UPDATE_SEGMENT, {"id": seg["id"], "input": change})
    assert made["updateSegment"]["segment"]["status"] == status
    # when looked up
    is_member = await _is_member(api, seg["id"], "m1")
    default = await api.query(MEMBER_SEGMENTS, {"m": "m1"})
    every = await api.query(MEMBER_SEGMENTS, {"m": "m1", "all": True})
    explained = await _reasons(api, seg["id"], "m1")
    of = await api.query(MEMBERSHIPS_OF, {"ids": ["m1"]})
    # then only includeInactive counts it
    assert is_member is False
    assert default["memberSegments"] == []
    assert [s["name"] for s in every["memberSegments"]] == ["Later"]
    assert explained == (False, ["LISTED", "SEGMENT_NOT_ACTIVE"])
    assert of["membershipsOf"] == [{"memberId": "m1", "segmentIds": []}]


async def test_member_segments_and_memberships_of(api: Api) -> None:
    # given members in several segments, one of them inactive
    await members(api, "a", "b", attributes={"vip": True})
    await members(api, "c")
    s1 = await segment(api, "One", memberIds=["a"])
    s2 = await segment(api, "Two", type="DYNAMIC", rule="attributes.vip = true")
    await segment(api, "Off", memberIds=["a"], isActive=False)
    # when asked for members in an order of the caller's, with an unknown id and a repeat
    data = await api.query(MEMBERSHIPS_OF, {"ids": ["c", "ghost", "a", "b", "a"]})
    single = await api.query(MEMBER_SEGMENTS, {"m": "a"})
    # then answers come in that order, live segments only, unknown members in none
    assert data["membershipsOf"] == [
        {"memberId": "c", "segmentIds": []},
        {"memberId": "ghost", "segmentIds": []},
        {"memberId": "a", "segmentIds": sorted([s1["id"], s2["id"]], key=int)},
        {"memberId": "b", "segmentIds": [s2["id"]]},
        {"memberId": "a", "segmentIds": sorted([s1["id"], s2["id"]], key=int)},
    ]
    assert sorted(s["name"] for s in single["memberSegments"]) == ["One", "Two"]


async def test_memberships_of_refuses_more_ids_than_the_limit(api: Api) -> None:
    body = await api.raw(MEMBERSHIPS_OF, {"ids": [f"m{i}" for i in range(1001)]})
    assert body["errors"][0]["extensions"]["code"] == "TOO_LARGE"
    assert "1000" in body["errors"][0]["message"]


async def test_member_and_company_segments_fields(api: Api) -> None:
    # given a company listed in one live and one inactive segment, and its member
    await companies(api, "acme")
    await members(api, "e1", companyId="acme")
    await segment(api, "Live", companyIds=["acme"])
    await segment(api, "Paused", companyIds=["acme"], isActive=False)
    # when read through Member.segments and Company.segments
    member = (await api.query(MEMBER_WITH_SEGMENTS, {"m": "e1"}))["member"]
    company = (await api.query(COMPANY_WITH_SEGMENTS, {"c": "acme"}))["company"]
    # then both count the live one, and the inactive one only when asked
    assert [s["name"] for s in member["segments"]] == ["Live"]
    assert sorted(s["name"] for s in member["all"]) == ["Live", "Paused"]
    assert [s["name"] for s in company["segments"]] == ["Live"]
    assert sorted(s["name"] for s in company["all"]) == ["Live", "Paused"]


async def test_unknown_or_foreign_segment_is_not_found(api: Api, other_api: Api) -> None:
    # given a segment of another site, and one member here
    await members(api, "m1")
    await members(other_api, "m1")
    theirs = await segment(other_api, "Theirs", memberIds=["m1"])
    for segment_id in [theirs["id"], "999999", "not-an-id"]:
        # when asked about it
        for query in (IS_MEMBER, EXPLAIN):
            body = await api.raw(query, {"s": segment_id, "m": "m1"})
            # then it is NOT_FOUND, exactly like an id that does not exist
            assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_lookups_never_see_another_sites_members_or_segments(
    api: Api, other_api: Api
) -> None:
    # given the same member id on two sites, in a segment on the other site only
    await members(api, "m1", attributes={"vip": True})
    await members(other_api, "m1", attributes={"vip": True})
    await segment(other_api, "TheirList", memberIds=["m1"])
    await segment(other_api, "TheirRule", type="DYNAMIC", rule="attributes.vip = true")
    # when this site asks
    single = await api.query(MEMBER_SEGMENTS, {"m": "m1", "all": True})
    batch = await api.query(MEMBERSHIPS_OF, {"ids": ["m1"]})
    member = await api.query(MEMBER_WITH_SEGMENTS, {"m": "m1"})
    # then it sees none of the other site's segments
    assert single["memberSegments"] == []
    assert batch["membershipsOf"] == [{"memberId": "m1", "segmentIds": []}]
    assert member["member"]["all"] == []


async def test_in_segment_nests_effective_membership(api: Api) -> None:
    # given beta (listed) and staff (by rule), and a rule over both
    await members(api, "tester", "employee", "outsider")
    await members(api, "staff-tester", attributes={"staff": True})
    await segment(api, "beta", memberIds=["tester", "staff-tester", "employee"])
    await segment(
        api, "staff", type="DYNAMIC", rule="attributes.staff = true", memberIds=["employee"]
    )
    rollout = await segment(
        api, "rollout", type="DYNAMIC", rule="in_segment('beta') AND NOT in_segment('staff')"
    )
    # when listed (SQL) and looked up (Python)
    data = await api.query(
        "query($id: ID!) { segment(id: $id) { memberCount members { edges { node { id } } } } }",
        {"id": rollout["id"]},
    )
    listed = {e["node"]["id"] for e in data["segment"]["members"]["edges"]}
    looked_up = {
        m
        for m in ["tester", "employee", "outsider", "staff-tester"]
        if await _is_member(api, rollout["id"], m)
    }
    # then only the beta members who are not staff are in, by both evaluators
    assert listed == looked_up == {"tester"}
    assert data["segment"]["memberCount"] == 1


async def test_a_rule_change_is_seen_by_the_next_lookup(api: Api) -> None:
    # given a DYNAMIC segment, looked up once (its rule now cached)
    await members(api, "m1", attributes={"tier": "gold"})
    seg = await segment(api, "Tier", type="DYNAMIC", rule="attributes.tier = 'gold'")
    assert await _is_member(api, seg["id"], "m1") is True
    # when its rule changes
    await api.query(UPDATE_SEGMENT, {"id": seg["id"], "input": {"rule": "attributes.tier = 'x'"}})
    # then the next lookup answers by the new rule
    assert await _is_member(api, seg["id"], "m1") is False


async def test_a_static_segments_rule_does_not_make_members(api: Api) -> None:
    await members(api, "m1", attributes={"tier": "gold"})
    seg = await segment(api, "Eligible only", rule="attributes.tier = 'gold'")
    assert await _is_member(api, seg["id"], "m1") is False
    assert await _reasons(api, seg["id"], "m1") == (False, ["NO_MATCH"])


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement the lookups (and what they read) send to the database."""
    return count_fetches(monkeypatch, lookups, catalogue)


@pytest.mark.parametrize("segment_count", [2, 12])
async def test_a_lookup_costs_the_same_statements_whatever_the_number_of_segments(
    api: Api, statements: list[str], segment_count: int
) -> None:
    # given many listed and dynamic segments, and their definitions already cached
    await members(api, "m1", attributes={"n": 5})
    for i in range(segment_count):
        await segment(api, f"L{i}", memberIds=["m1"])
        await segment(api, f"D{i}", type="DYNAMIC", rule=f"attributes.n > {i}")
    await api.query(MEMBERSHIPS_OF, {"ids": ["m1"]})
    statements.clear()
    # when the member's segments are asked for
    data = await api.query(MEMBERSHIPS_OF, {"ids": ["m1"]})
    # then the answer is right, and took one statement (members with their ties)
    assert len(data["membershipsOf"][0]["segmentIds"]) == segment_count + min(segment_count, 5)
    assert len(statements) == 1


async def test_a_page_of_members_reads_segments_in_fixed_statements(
    api: Api, statements: list[str]
) -> None:
    # given twenty members, each in a segment of its own
    ids = [f"m{i:02}" for i in range(20)]
    await members(api, *ids)
    for i in ids:
        await segment(api, f"S-{i}", memberIds=[i])
    await api.query(MEMBERS_PAGE)
    statements.clear()
    # when a page of members is read with their segments
    data = await api.query(MEMBERS_PAGE)
    # then each has its segment, from one batched lookup
    assert [[s["name"] for s in e["node"]["segments"]] for e in data["members"]["edges"]] == [
        [f"S-{i}"] for i in ids
    ]
    assert len(statements) == 1
