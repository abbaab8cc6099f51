"""previewSegmentChange: the numbers of what updateSegment would do, equal to what it then
does (rule edits, type changes), and nothing changed by asking: no row, no audit event, no
membership change, no live message. Roles and tenancy as updateSegment's."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.auth.models import Role
from app.changes.record import TOPIC
from app.events.service import TOPIC as EVENTS_TOPIC
from app.live.broker import broker
from tests.factories import Api, members, segment
from tests.live.support import settled

PREVIEW = """
query($id: ID!, $input: UpdateSegmentInput!) {
  previewSegmentChange(id: $id, input: $input) {
    memberCountBefore memberCountAfter entering exiting enteringSample exitingSample
  }
}
"""
UPDATE = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { memberCount } userErrors { code } }
}
"""
UPDATE_ERRORS = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { userErrors { field message code } }
}
"""
STATE = """
query($id: ID!) {
  segment(id: $id) { type rule memberCount description events(first: 50) { edges { node { id } } } }
  membershipChanges(segmentId: $id, first: 500) { edges { node { memberId kind cause } } }
}
"""


async def _state(api: Api, segment_id: str) -> dict[str, Any]:
    return await api.query(STATE, {"id": segment_id})


async def _preview(api: Api, segment_id: str, change: dict[str, Any]) -> dict[str, Any]:
    data = await api.query(PREVIEW, {"id": segment_id, "input": change})
    found: dict[str, Any] = data["previewSegmentChange"]
    return found


async def _update_and_compare(api: Api, segment_id: str, change: dict[str, Any]) -> dict[str, Any]:
    """Preview the change, check it changed nothing, make it, check the preview told it."""
    before = await _state(api, segment_id)
    preview = await _preview(api, segment_id, change)
    assert await _state(api, segment_id) == before  # nothing changed by asking

    done = await api.query(UPDATE, {"id": segment_id, "input": change})
    assert done["updateSegment"]["userErrors"] == []
    after = await _state(api, segment_id)
    seen = {e["node"]["memberId"] for e in before["membershipChanges"]["edges"]}
    new = after["membershipChanges"]["edges"][len(before["membershipChanges"]["edges"]) :]
    entered = [e["node"]["memberId"] for e in new if e["node"]["kind"] == "ENTERED"]
    exited = [e["node"]["memberId"] for e in new if e["node"]["kind"] == "EXITED"]
    assert {e["node"]["cause"] for e in new} <= {"RULE_CHANGED"}, seen

    assert preview == {
        "memberCountBefore": before["segment"]["memberCount"],
        "memberCountAfter": after["segment"]["memberCount"],
        "entering": len(entered),
        "exiting": len(exited),
        "enteringSample": entered,
        "exitingSample": exited,
    }
    return preview


async def test_a_rule_edit_is_previewed_as_the_update_then_does_it(api: Api) -> None:
    # given members of three tiers and a DYNAMIC segment of the gold ones
    await members(api, "g1", "g2", attributes={"tier": "gold"})
    await members(api, "s1", "s2", "s3", attributes={"tier": "silver"})
    await members(api, "b1", attributes={"tier": "bronze"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")

    # when the rule is widened, then narrowed, each previewed first
    wider = await _update_and_compare(
        api, vip["id"], {"rule": "attributes.tier IN ('gold', 'silver')"}
    )
    other = await _update_and_compare(api, vip["id"], {"rule": "attributes.tier = 'bronze'"})

    # then the numbers are those of the members who enter and exit
    assert (wider["memberCountBefore"], wider["memberCountAfter"]) == (2, 5)
    assert sorted(wider["enteringSample"]) == ["s1", "s2", "s3"] and wider["exiting"] == 0
    assert (other["entering"], other["exiting"], other["memberCountAfter"]) == (1, 5, 1)


async def test_a_type_change_is_previewed_as_the_update_then_does_it(api: Api) -> None:
    # given a STATIC segment listing one member, with a rule that matches two others
    await members(api, "listed", attributes={"tier": "bronze"})
    await members(api, "r1", "r2", attributes={"tier": "gold"})
    seg = await segment(api, "Gold", rule="attributes.tier = 'gold'", memberIds=["listed"])

    # when it becomes DYNAMIC (its rule now makes members), and STATIC again
    made = await _update_and_compare(api, seg["id"], {"type": "DYNAMIC"})
    unmade = await _update_and_compare(api, seg["id"], {"type": "STATIC"})

    # then the rule's matches enter, and exit again, the listed member staying
    assert sorted(made["enteringSample"]) == ["r1", "r2"] and made["memberCountAfter"] == 3
    assert sorted(unmade["exitingSample"]) == ["r1", "r2"] and unmade["memberCountAfter"] == 1


async def test_a_preview_tells_nobody(app: Any, api: Api) -> None:
    await members(api, "g1", attributes={"tier": "gold"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'silver'")
    await settled(api.site.id)  # the segment's creation is not heard as if after
    with (
        broker.subscribe(TOPIC, site_id=api.site.id) as changes,
        broker.subscribe(EVENTS_TOPIC, site_id=api.site.id) as events,
    ):
        preview = await _preview(api, vip["id"], {"rule": "attributes.tier = 'gold'"})
        assert preview["entering"] == 1
        # a real update after it is the first thing told on either topic
        await api.query(UPDATE, {"id": vip["id"], "input": {"description": "told"}})
        [told] = await asyncio.wait_for(events.batch(), timeout=5)
        assert told.payload["segment"] == int(vip["id"])
        assert changes.dropped == 0 and await _nothing(changes)


async def _nothing(subscription: Any) -> bool:
    try:
        await asyncio.wait_for(subscription.batch(), timeout=0.3)
    except TimeoutError:
        return True
    return False


async def test_a_preview_leaves_the_cached_segments_as_they_are(api: Api) -> None:
    # given a segment previewed with one rule, then updated with another
    await members(api, "g1", attributes={"tier": "gold"})
    await members(api, "s1", attributes={"tier": "silver"})
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'bronze'")
    await _preview(api, vip["id"], {"rule": "attributes.tier = 'gold'"})
    await api.query(UPDATE, {"id": vip["id"], "input": {"rule": "attributes.tier = 'silver'"}})

    # then lookups read the rule saved, not the one previewed
    found = await api.query(
        'query($id: ID!) { a: isMember(segmentId: $id, memberId: "g1")'
        ' b: isMember(segmentId: $id, memberId: "s1") }',
        {"id": vip["id"]},
    )
    assert found == {"a": False, "b": True}


async def test_a_preview_refuses_what_the_update_refuses(api: Api, other_api: Api) -> None:
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    bad = await api.raw(PREVIEW, {"id": vip["id"], "input": {"rule": "country = 'NL'"}})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID_RULE"
    theirs = await segment(other_api, "Theirs")
    hidden = await api.raw(PREVIEW, {"id": theirs["id"], "input": {"rule": "attributes.x = 1"}})
    assert hidden["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await _state(other_api, theirs["id"]))["segment"]["rule"] is None


@pytest.mark.parametrize(
    "rule", ["country = 'NL'", "attributes.tier = ", "in_segment('VIP')"], ids=str
)
async def test_a_previews_rule_errors_name_the_path_the_updates_do(api: Api, rule: str) -> None:
    # given a segment, and a rule that updateSegment refuses (unknown field, syntax, a cycle)
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    variables = {"id": vip["id"], "input": {"rule": rule}}
    updated = (await api.query(UPDATE_ERRORS, variables))["updateSegment"]["userErrors"]
    assert updated and all(e["field"] == ["input", "rule"] for e in updated), updated

    # when the same input is previewed
    previewed = (await api.raw(PREVIEW, variables))["errors"]

    # then its errors have the code, the path and the message of the update's userErrors
    assert [
        (e["extensions"]["code"], e["extensions"]["field"], e["message"]) for e in previewed
    ] == [(e["code"], e["field"], e["message"]) for e in updated]


async def test_a_preview_needs_the_role_of_updatesegment(api: Api) -> None:
    vip = await segment(api, "VIP", type="DYNAMIC", rule="attributes.tier = 'gold'")
    reader = await api.with_role(Role.READER)
    writer = await api.with_role(Role.WRITER)
    refused = await reader.raw(PREVIEW, {"id": vip["id"], "input": {"rule": "attributes.x = 1"}})
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    allowed = await writer.query(PREVIEW, {"id": vip["id"], "input": {"description": "x"}})
    assert allowed["previewSegmentChange"]["entering"] == 0
