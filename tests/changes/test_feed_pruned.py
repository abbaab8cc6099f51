"""membershipChanges after a kept cursor once the record has been pruned: HISTORY_UNAVAILABLE
(with historyFrom) when changes after the cursor were pruned, never a page with a silent gap;
no error when every change after it is kept, even if the cursor's own change has aged out;
another site's or another segment's pruning does not touch this reader."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from app.changes.sweeper import prune
from tests.changes.records import AT, changes, record
from tests.factories import Api

FEED = """
query($segmentId: ID, $after: String, $first: Int) {
  membershipChanges(segmentId: $segmentId, after: $after, first: $first) {
    edges { node { id segmentId memberId } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _kept_after_two(api: Api, **filters: Any) -> str:
    """A consumer's cursor after the first two changes of its feed."""
    page = (await api.query(FEED, {"first": 2, **filters}))["membershipChanges"]
    assert len(page["edges"]) == 2 and page["pageInfo"]["hasNextPage"]
    cursor: str = page["pageInfo"]["endCursor"]
    return cursor


async def test_a_cursor_with_changes_pruned_after_it_is_history_unavailable(api: Api) -> None:
    # given four changes, one a second (AT, AT+1s, ...), and a cursor kept after the second
    await record(api.site.id, changes(7, ["a", "b", "c", "d"]))
    kept = await _kept_after_two(api)
    # when the changes older than AT+2.5s are pruned: the third, after the cursor, too
    assert await prune(api.site.id, AT + timedelta(seconds=2.5)) == 3
    body = await api.raw(FEED, {"after": kept})
    # then reading on is refused, saying from when history is kept, rather than a gap
    [error] = body["errors"]
    assert error["extensions"]["code"] == "HISTORY_UNAVAILABLE"
    assert datetime.fromisoformat(error["extensions"]["historyFrom"]) > AT
    assert "pruned" in error["message"]
    assert body["data"] is None or body["data"].get("membershipChanges") is None


async def test_a_cursor_whose_own_change_aged_out_reads_on_without_error(api: Api) -> None:
    # given four changes and a cursor kept after the second
    await record(api.site.id, changes(7, ["a", "b", "c", "d"]))
    kept = await _kept_after_two(api)
    # when the first two (the cursor's own change included) are pruned, and no later one
    assert await prune(api.site.id, AT + timedelta(seconds=1.5)) == 2
    data = await api.query(FEED, {"after": kept})
    # then the feed reads on after the cursor, with no gap
    page = data["membershipChanges"]
    assert [e["node"]["memberId"] for e in page["edges"]] == ["c", "d"]
    assert page["pageInfo"]["hasNextPage"] is False


async def test_another_sites_prune_does_not_refuse_this_sites_cursor(
    api: Api, other_api: Api
) -> None:
    # given a cursor of this site, and another site's changes recorded after it
    await record(api.site.id, changes(7, ["a", "b", "c"]))
    kept = await _kept_after_two(api)
    await record(other_api.site.id, changes(9, ["x", "y"]))
    # when the other site's changes are all pruned (ids after this site's cursor)
    assert await prune(other_api.site.id, AT + timedelta(days=1)) == 2
    # then this site's reader reads on
    data = await api.query(FEED, {"after": kept})
    assert [e["node"]["memberId"] for e in data["membershipChanges"]["edges"]] == ["c"]
    # and the other site's reader from before its prune is refused
    body = await other_api.raw(FEED, {"after": kept})
    assert body["errors"][0]["extensions"]["code"] == "HISTORY_UNAVAILABLE"


async def test_a_segments_reader_is_refused_only_for_its_own_segments_pruned_changes(
    api: Api,
) -> None:
    # given a reader of segment 7 with a cursor kept after its second change, and then a
    # change of segment 8 recorded (after the cursor) as happening at AT
    await record(api.site.id, changes(7, ["a", "b", "c"]))
    kept = await _kept_after_two(api, segmentId="7")
    await record(api.site.id, changes(8, ["x"]))
    # when the changes older than AT+0.5s are pruned: 7's first (before the cursor) and 8's
    assert await prune(api.site.id, AT + timedelta(seconds=0.5)) == 2
    # then the reader of segment 7 reads on: nothing of its segment after it was pruned
    data = await api.query(FEED, {"segmentId": "7", "after": kept})
    assert [e["node"]["memberId"] for e in data["membershipChanges"]["edges"]] == ["c"]
    # and a reader of the whole site at the same cursor is refused: 8's change is gone
    body = await api.raw(FEED, {"after": kept})
    assert body["errors"][0]["extensions"]["code"] == "HISTORY_UNAVAILABLE"
