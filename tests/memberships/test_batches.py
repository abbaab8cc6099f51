"""applyMembershipChanges at size: a fixed number of statements for the payloads' segments,
and batches of many small changes: up to MAX_BATCH_CHANGES they apply without exhausting
PostgreSQL's lock table (one lock a segment, not one a change); past it they are refused
before anything is touched, and the database stays usable."""

from __future__ import annotations

from typing import Any

from app.settings import get_settings
from tests.factories import Api, count_statements, members, segment

APPLY_WITH_SEGMENTS = """
mutation($changes: [MembershipChangeInput!]!) {
  applyMembershipChanges(changes: $changes) {
    results { added segment { id name } }
    userErrors { field message code }
  }
}
"""

APPLY_WITHOUT_SEGMENTS = """
mutation($changes: [MembershipChangeInput!]!) {
  applyMembershipChanges(changes: $changes) {
    results { added }
    userErrors { field message code }
  }
}
"""

APPLY = """
mutation($changes: [MembershipChangeInput!]!) {
  applyMembershipChanges(changes: $changes) {
    results { added removed unchanged unknownCount }
    userErrors { field message code }
  }
}
"""

LISTED = """
query($id: ID!) { segment(id: $id) { memberCount } }
"""


async def _statements(api: Api, document: str, changes: list[dict[str, Any]]) -> int:
    with count_statements() as statements:
        data = await api.query(document, {"changes": changes})
    assert data["applyMembershipChanges"]["userErrors"] == []
    return len([s for s in statements if "api_keys" not in s and '"sites"' not in s])


async def _segment_statements(api: Api, how_many: int) -> int:
    """What asking each result's segment adds to a batch of ``how_many`` changes: the same
    batch (ADD to segments of its own) applied twice, asking and not asking."""

    async def adds(side: str) -> list[dict[str, Any]]:
        ids = [(await segment(api, f"s{how_many}-{side}-{i}"))["id"] for i in range(how_many)]
        return [{"segmentId": i, "mode": "ADD", "memberIds": ["m1"]} for i in ids]

    with_segments = await _statements(api, APPLY_WITH_SEGMENTS, await adds("with"))
    without = await _statements(api, APPLY_WITHOUT_SEGMENTS, await adds("without"))
    return with_segments - without


async def test_the_results_segments_cost_the_same_statements_for_2_and_8_changes(
    api: Api,
) -> None:
    # given a member and batches of 2 and of 8 changes, each over segments of its own
    await members(api, "m1")
    # when each batch is applied asking every result's segment, and then undone without
    few = await _segment_statements(api, 2)
    many = await _segment_statements(api, 8)
    # then the segments are read by the same statements, whatever the number of results
    assert few == many, f"{few} statements for 2 results, {many} for 8"
    assert few <= 1


async def test_ten_thousand_one_id_changes_past_the_limit_are_too_large(api: Api) -> None:
    # given a segment, and a batch of 10,000 changes of one id each (over the default limit)
    await members(api, "m1")
    seg = await segment(api, "S")
    changes = [{"segmentId": seg["id"], "mode": "ADD", "memberIds": ["m1"]}] * 10_000
    # when it is applied
    payload = (await api.query(APPLY, {"changes": changes}))["applyMembershipChanges"]
    # then it is refused before anything is written, naming the limit
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LARGE", ["changes"])
    assert f"limit of {get_settings().max_batch_changes}" in error["message"]
    assert payload["results"] == []
    assert (await api.query(LISTED, {"id": seg["id"]}))["segment"]["memberCount"] == 0


async def test_a_batch_of_one_id_changes_up_to_the_limit_succeeds(api: Api) -> None:
    # given as many members as the batch limit allows changes (1,000 by default), two segments
    limit = get_settings().max_batch_changes
    ids = [f"u{i:05d}" for i in range(limit)]
    await api.query(
        "mutation($m: [MemberInput!]!) { upsertMembers(members: $m) { created } }",
        {"m": [{"id": i} for i in ids]},
    )
    a, b = await segment(api, "A"), await segment(api, "B")
    # when one request makes that many changes of one id each, over both segments
    changes = [
        {"segmentId": (a if n % 2 else b)["id"], "mode": "ADD", "memberIds": [i]}
        for n, i in enumerate(ids)
    ]
    payload = (await api.query(APPLY, {"changes": changes}))["applyMembershipChanges"]
    # then every change applied (one lock a segment, not one a change), each reported
    assert payload["userErrors"] == []
    assert len(payload["results"]) == limit
    assert {r["added"] for r in payload["results"]} == {1}
    # and the database is still usable: the segments count what was listed
    assert (await api.query(LISTED, {"id": a["id"]}))["segment"]["memberCount"] == limit // 2
    assert (await api.query(LISTED, {"id": b["id"]}))["segment"]["memberCount"] == limit // 2
