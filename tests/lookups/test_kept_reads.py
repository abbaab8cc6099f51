"""Reads from kept data: on a site that keeps its membership (a ``membership_sites`` row), the
lookups read the kept rule matches instead of evaluating rules, counts read the kept counters,
and a DYNAMIC segment's page walks its listings, companies and kept matches. The kept rows are
set by hand here, to something the rule would not give, so that each answer shows what was
read; a site that keeps nothing is still answered by evaluating the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from app.db import execute, fetch, ts
from app.memberships import catalogue
from tests.factories import Api, companies, count_statements, members, segment

LOOKUPS = """
query($s: ID!, $m: ID!, $ids: [ID!]!) {
  isMember(segmentId: $s, memberId: $m)
  memberSegments(memberId: $m) { name }
  membershipsOf(memberIds: $ids) { memberId segmentIds }
  explainMembership(segmentId: $s, memberId: $m) { isMember reasons }
  member(id: $m) { segments { name } }
}
"""
COUNTS = """
query($id: ID!) {
  segment(id: $id) {
    memberCount companyCount
    members(first: 2) { totalCount edges { source node { id } } }
  }
}
"""
PAGE = """
query($id: ID!, $after: String) {
  segment(id: $id) {
    members(first: 2, after: $after) {
      edges { source node { id } }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def _keep(api: Api, segment_id: str, member_ids: list[str]) -> None:
    """Make the site one that keeps its membership, with exactly these kept matches of the
    segment (whatever its rule says)."""
    site_id = api.site.id
    await execute(
        "INSERT INTO membership_sites (site_id, history_from) VALUES ($1, $2)"
        " ON CONFLICT (site_id) DO NOTHING",
        [site_id, ts(datetime.now(UTC))],
    )
    await execute("DELETE FROM segment_rule_matches WHERE segment_id = $1", [int(segment_id)])
    for member_id in member_ids:
        await execute(
            "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
            " SELECT $1, $2, id FROM members WHERE site_id = $1 AND external_id = $3",
            [site_id, int(segment_id), member_id],
        )


async def _lookups(api: Api, segment_id: str, member_id: str) -> dict[str, Any]:
    return await api.query(LOOKUPS, {"s": segment_id, "m": member_id, "ids": [member_id]})


async def test_lookups_read_the_kept_matches_not_the_rule(api: Api) -> None:
    # given a DYNAMIC segment of gold members, whose kept matches say: the silver one only
    await members(api, "g", attributes={"tier": "gold"})
    await members(api, "s", attributes={"tier": "silver"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    await _keep(api, vip["id"], ["s"])

    # when each lookup is asked about both
    kept_in = await _lookups(api, vip["id"], "s")
    kept_out = await _lookups(api, vip["id"], "g")

    # then each answers from the kept rows
    assert kept_in == {
        "isMember": True,
        "memberSegments": [{"name": "VIP"}],
        "membershipsOf": [{"memberId": "s", "segmentIds": [vip["id"]]}],
        "explainMembership": {"isMember": True, "reasons": ["RULE"]},
        "member": {"segments": [{"name": "VIP"}]},
    }
    assert kept_out["isMember"] is False and kept_out["memberSegments"] == []
    assert kept_out["explainMembership"] == {"isMember": False, "reasons": ["NO_MATCH"]}
    assert kept_out["membershipsOf"] == [{"memberId": "g", "segmentIds": []}]


async def test_a_site_that_keeps_nothing_evaluates_its_rules(api: Api) -> None:
    await members(api, "g", attributes={"tier": "gold"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    await _keep(api, vip["id"], [])
    assert (await _lookups(api, vip["id"], "g"))["isMember"] is False
    await execute("DELETE FROM membership_sites WHERE site_id = $1", [api.site.id])
    assert (await _lookups(api, vip["id"], "g"))["isMember"] is True


async def test_lookups_on_a_kept_site_still_see_listing_expiry_exactly(api: Api) -> None:
    # given a listing that has expired (whether or not anything swept it)
    await members(api, "m")
    listed = await segment(api, "Listed", memberIds=["m"])
    await _keep(api, listed["id"], [])
    await execute(
        "UPDATE segment_members SET expires_at = $1 WHERE segment_id = $2",
        [ts(datetime(2020, 1, 1, tzinfo=UTC)), int(listed["id"])],
    )
    found = await _lookups(api, listed["id"], "m")
    assert found["isMember"] is False
    assert found["explainMembership"]["reasons"] == ["EXPIRED"]


async def test_counts_read_the_kept_counters(api: Api) -> None:
    # given a segment whose kept counters say 12345 members and 7 companies
    await members(api, "m")
    seg = await segment(api, "Listed", memberIds=["m"])
    await _keep(api, seg["id"], [])
    await execute("DELETE FROM segment_counts WHERE segment_id = $1", [int(seg["id"])])
    await execute(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        " VALUES ($1, $2, 12345, 7)",
        [api.site.id, int(seg["id"])],
    )
    data = await api.query(COUNTS, {"id": seg["id"]})
    found = data["segment"]
    assert (found["memberCount"], found["companyCount"]) == (12345, 7)
    assert found["members"]["totalCount"] == 12345
    assert [e["node"]["id"] for e in found["members"]["edges"]] == ["m"]


async def test_a_list_of_segments_reads_every_counter_in_one_statement(api: Api) -> None:
    await members(api, "m")
    ids = [(await segment(api, f"s{i}", memberIds=["m"]))["id"] for i in range(5)]
    for segment_id in ids:
        await _keep(api, segment_id, [])
    await execute(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        " SELECT site_id, id, 40 + id % 3, 0 FROM segments WHERE site_id = $1"
        " ON CONFLICT (segment_id) DO UPDATE SET member_count = excluded.member_count",
        [api.site.id],
    )
    with count_statements() as statements:
        data = await api.query("{ segments(first: 10) { edges { node { id memberCount } } } }")
    counted = [s for s in statements if "segment_counts" in s]
    assert len(counted) == 1
    assert [n["node"]["memberCount"] for n in data["segments"]["edges"]] == [
        40 + int(i) % 3 for i in ids
    ]
    assert not any("segment_members" in s for s in statements)  # nothing re-counted


LIST = "query {} {{ segments(first: 50) {{ edges {{ node {{ name memberCount }} }} }} }}"


async def _planned_list(api: Api, how_many: int) -> tuple[list[str], list[dict[str, Any]]]:
    """The statements of a hot list document (asked twice before: planned, and the site's
    catalogue read), and its segments."""
    await members(api, f"m{how_many}")
    for i in range(how_many):
        await segment(api, f"{how_many}-{i:02}", memberIds=[f"m{how_many}"])
    document = LIST.format(f"List{how_many}")
    for _ in range(2):
        await api.query(document)
    with count_statements() as statements:
        data = await api.query(document)
    listing = [s for s in statements if "api_keys" not in s]  # the key's check, when not cached
    return listing, [e["node"] for e in data["segments"]["edges"]]


async def test_a_planned_list_of_segments_is_one_statement_whatever_its_size(
    api: Api, other_api: Api
) -> None:
    # given a site of 3 segments and one of 12, each with a listed member, counters kept
    # when each lists its segments with memberCount through the list's plan
    few, few_nodes = await _planned_list(api, 3)
    many, many_nodes = await _planned_list(other_api, 12)
    # then each answered right, in one statement that re-counts nothing
    assert [(n["name"], n["memberCount"]) for n in few_nodes] == [
        (f"3-{i:02}", 1) for i in range(3)
    ]
    assert [n["memberCount"] for n in many_nodes] == [1] * 12
    assert len(few) == len(many) == 1, (few, many)
    assert "segment_counts" in few[0]
    assert not any("segment_members" in s for s in few + many)


async def test_a_dynamic_segments_page_walks_lists_companies_and_kept_matches(api: Api) -> None:
    # given a DYNAMIC segment with a listed member, a listed company's member, kept matches
    # (one of them also listed, one excluded) and a member the rule matches but nothing keeps
    await companies(api, "acme")
    await members(api, "a1", "a2", "a3", "a4", "a5", "a6", attributes={"tier": "gold"})
    await members(api, "c1", companyId="acme")
    seg = await segment(
        api,
        "VIP",
        type="DYNAMIC",
        rule="attributes.tier = 'gold'",
        memberIds=["a2"],
        companyIds=["acme"],
    )
    await api.query(
        'mutation($s: ID!) { updateSegmentExclusions(input: {segmentId: $s, memberIds: ["a4"],'
        " mode: ADD}) { added } }",
        {"s": seg["id"]},
    )
    await _keep(api, seg["id"], ["a1", "a2", "a4", "a5"])
    catalogue.clear()

    # when its members are paged two by two
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        data = await api.query(PAGE, {"id": seg["id"], "after": after})
        page = data["segment"]["members"]
        seen += [(e["node"]["id"], e["source"]) for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    # then each effective member comes once, in member order, with how it is one
    assert seen == [("a1", "RULE"), ("a2", "MANUAL"), ("a5", "RULE"), ("c1", "COMPANY")]
    rows = await fetch("SELECT id FROM membership_sites WHERE site_id = $1", [api.site.id])
    assert rows  # the site keeps its membership: what was read are the kept matches


PAGE_AGAIN = """
query Again($id: ID!) {
  segment(id: $id) { memberCount members(first: 5) { edges { node { id } } } }
}
"""


async def _page_again(api: Api, segment_id: str) -> tuple[int, Any]:
    """The statements of a hot page document asked once more, and its answer."""
    with count_statements() as statements:
        data = await api.query(PAGE_AGAIN, {"id": segment_id})
    found = data["segment"]
    read = [s for s in statements if "api_keys" not in s]
    return len(read), (found["memberCount"], [e["node"]["id"] for e in found["members"]["edges"]])


async def test_a_page_asked_again_is_one_statement_until_its_ties_change(api: Api) -> None:
    # given a listed segment of three members whose page was asked (planned, then read)
    await members(api, "p1", "p2", "p3")
    seg = await segment(api, "Paged", memberIds=["p1", "p2", "p3"])
    for _ in range(3):
        await api.query(PAGE_AGAIN, {"id": seg["id"]})
    # when it is asked again, then its head and page are one statement
    assert await _page_again(api, seg["id"]) == (1, (3, ["p1", "p2", "p3"]))
    # when the segment gets an exclusion (a tie the walk did not check)
    data = await api.query(
        'mutation($s: ID!) { updateSegmentExclusions(input: {segmentId: $s, memberIds: ["p2"],'
        " mode: ADD}) { added } }",
        {"s": seg["id"]},
    )
    assert data["updateSegmentExclusions"]["added"] == 1
    # then the next page is read again the long way (three statements), without the excluded
    # member, and the one after is one statement again
    assert await _page_again(api, seg["id"]) == (3, (2, ["p1", "p3"]))
    assert await _page_again(api, seg["id"]) == (1, (2, ["p1", "p3"]))
