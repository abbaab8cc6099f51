"""applyMembershipChanges at size: a fixed number of statements for the payloads' segments,
and a batch of many small changes that neither exhausts PostgreSQL's lock table nor leaves
the database unusable."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

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


@pytest.fixture
def batch_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """MAX_BATCH_CHANGES of 10,000 for the test (the default is lower)."""
    monkeypatch.setenv("MAX_BATCH_CHANGES", "10000")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("MAX_BATCH_CHANGES")
    get_settings.cache_clear()


async def _statements(api: Api, document: str, changes: list[dict[str, Any]]) -> int:
    with count_statements() as statements:
        data = await api.query(document, {"changes": changes})
    assert data["applyMembershipChanges"]["userErrors"] == []
    return len([s for s in statements if "api_keys" not in s and '"sites"' not in s])


async def _segment_statements(api: Api, how_many: int) -> int:
    """What asking each result's segment adds to a batch of ``how_many`` changes."""
    ids = [(await segment(api, f"s{how_many}-{i}"))["id"] for i in range(how_many)]
    adds = [{"segmentId": i, "mode": "ADD", "memberIds": ["m1"]} for i in ids]
    deletes = [{**c, "mode": "DELETE"} for c in adds]
    with_segments = await _statements(api, APPLY_WITH_SEGMENTS, adds)
    without = await _statements(api, APPLY_WITHOUT_SEGMENTS, deletes)
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


async def test_ten_thousand_one_id_changes_within_the_limit_succeed(
    api: Api, batch_limit: None
) -> None:
    # given 10,000 members and two segments, and a limit that lets 10,000 changes through
    ids = [f"u{i:05d}" for i in range(10_000)]
    await api.query(
        "mutation($m: [MemberInput!]!) { upsertMembers(members: $m) { created } }",
        {"m": [{"id": i} for i in ids]},
    )
    a, b = await segment(api, "A"), await segment(api, "B")
    # when one request makes 10,000 changes of one id each, over both segments
    changes = [
        {"segmentId": (a if n % 2 else b)["id"], "mode": "ADD", "memberIds": [i]}
        for n, i in enumerate(ids)
    ]
    payload = (await api.query(APPLY, {"changes": changes}))["applyMembershipChanges"]
    # then every change applied, each reported on its own
    assert payload["userErrors"] == []
    assert len(payload["results"]) == 10_000
    assert {r["added"] for r in payload["results"]} == {1}
    # and the database is still usable: the segments count what was listed
    assert (await api.query(LISTED, {"id": a["id"]}))["segment"]["memberCount"] == 5_000
    assert (await api.query(LISTED, {"id": b["id"]}))["segment"]["memberCount"] == 5_000
