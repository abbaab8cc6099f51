"""Paging through a listed segment's effective members: every member once, in member order,
with how it is a member, whatever page size; expired listings and exclusions left out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.db import execute, parse_pk
from app.memberships import service as memberships
from tests.factories import Api, companies, count_statements, members, segment

PAGE = """
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    memberCount
    members(first: $first, after: $after) {
      edges { node { id } source } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
EXCLUDE = """
mutation($i: UpdateSegmentExclusionsInput!) { updateSegmentExclusions(input: $i) { added } }
"""


@pytest.mark.parametrize("first", [1, 2, 3, 50])
async def test_pages_cover_every_effective_member_once(api: Api, first: int) -> None:
    # given members listed, via a company (one both), one expired and one excluded
    await companies(api, "acme")
    await members(api, "a1", "a2", "gone", "banned")
    await members(api, "c1", "c2", "both", companyId="acme")
    seg = await segment(
        api, "S", memberIds=["a1", "a2", "gone", "banned", "both"], companyIds=["acme"]
    )
    await execute(
        "UPDATE segment_members SET expires_at = $1 WHERE member_id ="
        " (SELECT id FROM members WHERE external_id = 'gone' AND site_id = $2)",
        [datetime.now(UTC) - timedelta(minutes=1), api.site.id],
    )
    # as if that expiry had passed since the site's expiries were last recorded (the next
    # membership write records it, and moves the kept count)
    await execute(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [datetime.now(UTC) - timedelta(minutes=2), api.site.id],
    )
    await api.query(
        EXCLUDE, {"i": {"segmentId": seg["id"], "memberIds": ["banned"], "mode": "ADD"}}
    )
    # when paged through
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        data = (await api.query(PAGE, {"id": seg["id"], "first": first, "after": after}))["segment"]
        seen += [(e["node"]["id"], e["source"]) for e in data["members"]["edges"]]
        if not data["members"]["pageInfo"]["hasNextPage"]:
            break
        after = data["members"]["pageInfo"]["endCursor"]
    # then each effective member came once, in member order, with its source
    assert seen == [
        ("a1", "MANUAL"),
        ("a2", "MANUAL"),
        ("c1", "COMPANY"),
        ("c2", "COMPANY"),
        ("both", "MANUAL"),
    ]
    assert data["memberCount"] == 5


async def test_every_member_reads_the_segment_in_batches_of_list_members(api: Api) -> None:
    # given a segment of five listed members
    await members(api, "m1", "m2", "m3", "m4", "m5")
    seg = await segment(api, "S", memberIds=["m1", "m2", "m3", "m4", "m5"])
    pk = parse_pk(seg["id"])
    assert pk is not None
    # when read in batches of two, all of them, then only the first batch
    batches = [
        [row["external_id"] for row in page]
        async for page in memberships.every_member(site_id=api.site.id, segment_pk=pk, batch=2)
    ]
    with count_statements() as statements:
        async for _ in memberships.every_member(site_id=api.site.id, segment_pk=pk, batch=2):
            break
    # then the batches hold every member once, in member order, and stopping early reads no
    # page past the one taken
    assert batches == [["m1", "m2"], ["m3", "m4"], ["m5"]]
    with count_statements() as one_page:
        await memberships.list_members(
            site_id=api.site.id, segment_pk=pk, search=None, first=2, after=None
        )
    assert one_page and len(statements) == len(one_page)
