"""Asking the past: isMember(at:) and memberSegments(at:) from the record, around listing,
removal, expiry, rule changes, a deleted member and a segment's window; an `at` before the
retained history is refused with HISTORY_UNAVAILABLE; another site's records never count."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from app.changes.sweeper import sweep
from app.db import execute, ts
from tests.factories import Api, members, segment

IS_MEMBER = """
query($s: ID!, $m: ID!, $at: DateTime) { isMember(segmentId: $s, memberId: $m, at: $at) }
"""
SEGMENTS = """
query($m: ID!, $at: DateTime, $all: Boolean) {
  memberSegments(memberId: $m, at: $at, includeInactive: $all) { name }
}
"""
LIST = """
mutation($s: ID!, $ids: [ID!]!, $mode: MembershipMode!, $expiresAt: DateTime) {
  updateSegmentMembers(
    input: {segmentId: $s, memberIds: $ids, mode: $mode, expiresAt: $expiresAt}
  ) { userErrors { code } }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { userErrors { code } }
}
"""


async def _moment() -> datetime:
    """Now, with the clock moved on past it, so that what follows happens after it."""
    moment = datetime.now(UTC)
    await asyncio.sleep(0.01)
    return moment


async def _was(api: Api, segment_id: str, member_id: str, at: datetime | None) -> bool:
    variables = {"s": segment_id, "m": member_id, "at": at.isoformat() if at else None}
    answer: bool = (await api.query(IS_MEMBER, variables))["isMember"]
    return answer


async def _segments(api: Api, member_id: str, at: datetime, *, all: bool = False) -> list[str]:
    data = await api.query(SEGMENTS, {"m": member_id, "at": at.isoformat(), "all": all})
    return [s["name"] for s in data["memberSegments"]]


async def _list(api: Api, segment_id: str, ids: list[str], mode: str, **more: Any) -> None:
    data = await api.query(LIST, {"s": segment_id, "ids": ids, "mode": mode, **more})
    assert data["updateSegmentMembers"]["userErrors"] == []


async def _history_started(api: Api) -> dict[str, Any]:
    """A segment whose first listing starts the site's recorded history."""
    await members(api, "first")
    start = await segment(api, "Start")
    await _list(api, start["id"], ["first"], "ADD")
    return start


async def test_listing_and_unlisting_are_answered_as_they_were(api: Api) -> None:
    # given a member listed in a segment, then removed, with the moments in between
    await _history_started(api)
    await members(api, "m")
    vip = await segment(api, "VIP")
    before = await _moment()
    await _list(api, vip["id"], ["m"], "ADD")
    during = await _moment()
    await _list(api, vip["id"], ["m"], "DELETE")
    after = await _moment()

    # then each moment is answered as it was, and now as it is
    assert [await _was(api, vip["id"], "m", t) for t in (before, during, after, None)] == [
        False,
        True,
        False,
        False,
    ]
    assert await _segments(api, "m", during) == ["VIP"]
    assert await _segments(api, "m", after) == []


async def test_an_expiry_is_answered_before_and_after_the_sweep(api: Api) -> None:
    # given a listing that expires a moment after it is made
    await _history_started(api)
    await members(api, "m")
    vip = await segment(api, "VIP")
    expires = datetime.now(UTC) + timedelta(milliseconds=300)
    await _list(api, vip["id"], ["m"], "ADD", expiresAt=expires.isoformat())
    during = await _moment()
    await asyncio.sleep((expires - datetime.now(UTC)).total_seconds() + 0.05)
    after = await _moment()

    # then, before the expiry is recorded, the past is as it was
    answers = [await _was(api, vip["id"], "m", t) for t in (during, after, None)]
    assert answers == [True, False, False]
    assert await _segments(api, "m", during) == ["VIP"]

    # and once the sweeper has recorded it (stamped at the expiry), the answers are the same
    assert (await sweep()).expired == 1
    assert [await _was(api, vip["id"], "m", t) for t in (during, after, None)] == answers
    assert await _segments(api, "m", during) == ["VIP"]
    assert await _segments(api, "m", after) == []


async def test_a_rule_change_is_answered_as_it_was(api: Api) -> None:
    # given a DYNAMIC segment of gold members, changed to silver ones
    await members(api, "g", attributes={"tier": "gold"})
    await members(api, "s", attributes={"tier": "silver"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    gold = await _moment()
    done = await api.query(
        UPDATE, {"id": vip["id"], "input": {"rule": "attributes.tier = 'silver'"}}
    )
    assert done["updateSegment"]["userErrors"] == []
    silver = await _moment()

    # then the gold member was in, the silver one out, and the other way round since
    assert (await _was(api, vip["id"], "g", gold), await _was(api, vip["id"], "s", gold)) == (
        True,
        False,
    )
    assert (await _was(api, vip["id"], "g", silver), await _was(api, vip["id"], "s", silver)) == (
        False,
        True,
    )
    assert await _segments(api, "g", gold) == ["VIP"] and await _segments(api, "g", silver) == []


async def test_a_deleted_member_is_answered_as_it_was(api: Api) -> None:
    await _history_started(api)
    await members(api, "gone")
    vip = await segment(api, "VIP")
    await _list(api, vip["id"], ["gone"], "ADD")
    listed = await _moment()
    data = await api.query('mutation { deleteMembers(ids: ["gone"]) { deleted } }')
    assert data["deleteMembers"]["deleted"] == 1

    assert await _was(api, vip["id"], "gone", listed) is True
    assert await _was(api, vip["id"], "gone", None) is False
    assert await _segments(api, "gone", listed) == ["VIP"]


async def test_a_segments_status_then_is_judged_from_its_current_window(api: Api) -> None:
    # given a member listed in a segment whose window, as set now, starts after `early`
    await _history_started(api)
    await members(api, "m")
    vip = await segment(api, "VIP")
    await _list(api, vip["id"], ["m"], "ADD")
    early = await _moment()
    start = await _moment()
    late = await _moment()
    done = await api.query(UPDATE, {"id": vip["id"], "input": {"startsAt": start.isoformat()}})
    assert done["updateSegment"]["userErrors"] == []

    # then at `early` the segment was not live (not counted), at `late` it was
    assert await _was(api, vip["id"], "m", early) is False
    assert await _was(api, vip["id"], "m", late) is True
    assert await _segments(api, "m", early) == []
    assert await _segments(api, "m", early, all=True) == ["VIP"]


async def test_an_at_before_the_retained_history_is_refused(api: Api) -> None:
    # given a site whose history starts long ago (as if recorded for 200 days)
    start = await _history_started(api)
    await execute(
        "UPDATE membership_sites SET history_from = $1 WHERE site_id = $2",
        [ts(datetime.now(UTC) - timedelta(days=200)), api.site.id],
    )
    # then an `at` within MEMBERSHIP_HISTORY_DAYS (90) is answered, one before is refused
    assert await _was(api, start["id"], "first", datetime.now(UTC) - timedelta(days=89)) is False
    old = datetime.now(UTC) - timedelta(days=91)
    for query, variables in (
        (IS_MEMBER, {"s": start["id"], "m": "first", "at": old.isoformat()}),
        (SEGMENTS, {"m": "first", "at": old.isoformat()}),
    ):
        body = await api.raw(query, variables)
        assert body["data"] is None
        assert body["errors"][0]["extensions"]["code"] == "HISTORY_UNAVAILABLE"


async def test_an_at_before_the_sites_history_began_is_refused(api: Api) -> None:
    start = await _history_started(api)
    before = datetime.now(UTC) - timedelta(hours=1)
    body = await api.raw(IS_MEMBER, {"s": start["id"], "m": "first", "at": before.isoformat()})
    assert body["errors"][0]["extensions"]["code"] == "HISTORY_UNAVAILABLE"
    assert body["errors"][0]["extensions"]["historyFrom"] is not None


async def test_a_site_with_nothing_recorded_has_no_past_to_tell(api: Api) -> None:
    body = await api.raw(SEGMENTS, {"m": "m", "at": datetime.now(UTC).isoformat()})
    assert body["errors"][0]["extensions"]["code"] == "HISTORY_UNAVAILABLE"


async def test_another_sites_segments_and_records_tell_nothing(api: Api, other_api: Api) -> None:
    # given the same member id listed on the other site only
    await _history_started(api)
    await _history_started(other_api)
    await members(api, "m")
    await members(other_api, "m")
    theirs = await segment(other_api, "Theirs")
    await _list(other_api, theirs["id"], ["m"], "ADD")
    listed = await _moment()
    await _list(other_api, theirs["id"], ["m"], "DELETE")

    # then the first site's past of "m" holds none of it, and their segment is not found
    assert await _segments(api, "m", listed) == []
    body = await api.raw(IS_MEMBER, {"s": theirs["id"], "m": "m", "at": listed.isoformat()})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await _segments(other_api, "m", listed) == ["Theirs"]
