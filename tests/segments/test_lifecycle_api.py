"""Archive and restore (status, listings, lookups, flags, email before, during and after),
where a segment is used (Segment.usage), and the audit of what an update changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.auth.models import Role
from tests.factories import Api, count_statements, members, segment
from tests.personas.support import attach, codes, events, option, persona

ARCHIVE = """
mutation($id: ID!) {
  archiveSegment(id: $id) {
    segment { id name status isActive memberCount rule } userErrors { field message code }
  }
}
"""

RESTORE = """
mutation($id: ID!) {
  restoreSegment(id: $id) {
    segment { id name status isActive memberCount rule } userErrors { field message code }
  }
}
"""

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { field message code } } }
"""

UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { id } userErrors { field message code } }
}
"""

SEGMENT = """
query($id: ID!) {
  segment(id: $id) {
    name status memberCount rule options { label } personas { name }
  }
}
"""

LISTING = """
query($status: SegmentStatusFilter) {
  segments(status: $status) { totalCount edges { node { name status } } }
}
"""

LOOKUPS = """
query($s: ID!, $m: ID!) {
  isMember(segmentId: $s, memberId: $m)
  memberSegments(memberId: $m) { name }
  every: memberSegments(memberId: $m, includeInactive: true) { name }
  explainMembership(segmentId: $s, memberId: $m) { isMember reasons }
  evaluateFlags(memberId: $m, keys: ["beta"]) { key enabled matchedSegmentIds }
}
"""

CREATE_FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) { featureFlag { key } userErrors { code } }
}
"""

SEND = """
mutation($input: SendSegmentEmailInput!) {
  sendSegmentEmail(input: $input) { campaign { id status } userErrors { field message code } }
}
"""

USAGE = """
query($id: ID!) {
  segment(id: $id) {
    usage {
      featureFlags { key }
      segments { name }
      personas { name }
      emailCampaigns { id status }
    }
  }
}
"""


async def _archive(api: Api, segment_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.query(ARCHIVE, {"id": segment_id}))["archiveSegment"]
    return payload


async def _restore(api: Api, segment_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.query(RESTORE, {"id": segment_id}))["restoreSegment"]
    return payload


async def _names(api: Api, status: str | None = None) -> list[str]:
    data = await api.query(LISTING, {"status": status} if status else {})
    return [e["node"]["name"] for e in data["segments"]["edges"]]


# ------------------------------------------------------------------ archive and restore


async def test_archive_and_restore_round_trip_keeps_everything(api: Api) -> None:
    # given a segment with members, a rule, an option and a persona
    await members(api, "m1", "m2", attributes={"tier": "gold"})
    vip = await segment(api, "VIP", memberIds=["m1"], rule="attributes.tier = 'gold'")
    await option(api, vip["id"], "EU")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], vip["id"])
    before = (await api.query(SEGMENT, {"id": vip["id"]}))["segment"]

    # when it is archived, then restored
    archived = await _archive(api, vip["id"])
    during = (await api.query(SEGMENT, {"id": vip["id"]}))["segment"]
    restored = await _restore(api, vip["id"])
    after = (await api.query(SEGMENT, {"id": vip["id"]}))["segment"]

    # then it reads ARCHIVED while archived, keeping its lists, rule, options and personas,
    # and comes back exactly as it was
    assert archived["userErrors"] == []
    assert archived["segment"]["status"] == "ARCHIVED"
    assert archived["segment"]["isActive"] is True
    assert during == {**before, "status": "ARCHIVED"}
    assert restored["segment"]["status"] == "ACTIVE"
    assert after == before
    assert before["options"] == [{"label": "EU"}]
    assert before["personas"] == [{"name": "Admin"}]


async def test_a_restored_segment_gets_back_its_own_status(api: Api) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    scheduled = await segment(api, "Soon", startsAt=later.isoformat())
    off = await segment(api, "Off", isActive=False)
    for s in (scheduled, off):
        await _archive(api, s["id"])
    assert [(await _restore(api, s["id"]))["segment"]["status"] for s in (scheduled, off)] == [
        "SCHEDULED",
        "INACTIVE",
    ]


async def test_archived_segments_leave_the_default_listings(api: Api) -> None:
    # given three segments, one inactive, one archived
    await segment(api, "Alpha")
    await segment(api, "Beta", isActive=False)
    gamma = await segment(api, "Gamma")
    await _archive(api, gamma["id"])

    # then ALL (the default) means the segments in use; ARCHIVED lists the archived ones
    assert await _names(api) == ["Alpha", "Beta"]
    assert await _names(api, "ALL") == ["Alpha", "Beta"]
    assert await _names(api, "ACTIVE") == ["Alpha"]
    assert await _names(api, "INACTIVE") == ["Beta"]
    assert await _names(api, "ARCHIVED") == ["Gamma"]
    archived = await api.query(LISTING, {"status": "ARCHIVED"})
    assert archived["segments"]["totalCount"] == 1
    assert archived["segments"]["edges"][0]["node"]["status"] == "ARCHIVED"

    # and after a restore it is back where it was
    await _restore(api, gamma["id"])
    assert await _names(api) == ["Alpha", "Beta", "Gamma"]
    assert await _names(api, "ARCHIVED") == []


async def test_lookups_and_flags_treat_an_archived_segment_as_not_active(api: Api) -> None:
    # given a member of a segment that a flag targets
    await members(api, "m1")
    vip = await segment(api, "VIP", memberIds=["m1"])
    await api.query(CREATE_FLAG, {"input": {"key": "beta", "segmentIds": [vip["id"]]}})
    variables = {"s": vip["id"], "m": "m1"}

    # when lookups and flags are asked before, during and after an archive
    before = await api.query(LOOKUPS, variables)
    await _archive(api, vip["id"])
    during = await api.query(LOOKUPS, variables)
    await _restore(api, vip["id"])
    after = await api.query(LOOKUPS, variables)

    # then only while archived is the member out and the flag off
    assert before == after
    assert before["isMember"] is True
    assert before["memberSegments"] == [{"name": "VIP"}]
    assert before["evaluateFlags"] == [
        {"key": "beta", "enabled": True, "matchedSegmentIds": [vip["id"]]}
    ]
    assert during["isMember"] is False
    assert during["memberSegments"] == []
    assert during["every"] == [{"name": "VIP"}]  # includeInactive: whatever the status
    assert during["explainMembership"] == {
        "isMember": False,
        "reasons": ["LISTED", "SEGMENT_NOT_ACTIVE"],
    }
    assert during["evaluateFlags"] == [{"key": "beta", "enabled": False, "matchedSegmentIds": []}]


async def test_email_is_refused_to_an_archived_segment(api: Api) -> None:
    await members(api, "m1", email="m1@example.com")
    vip = await segment(api, "VIP", memberIds=["m1"])
    mail = {"segmentId": vip["id"], "subject": "Hi", "text": "Hello"}

    await _archive(api, vip["id"])
    refused = await api.query(SEND, {"input": mail})
    await _restore(api, vip["id"])
    sent = await api.query(SEND, {"input": mail})

    assert codes(refused["sendSegmentEmail"]) == [("CONFLICT", ["input", "segmentId"])]
    assert refused["sendSegmentEmail"]["campaign"] is None
    assert sent["sendSegmentEmail"]["userErrors"] == []


async def test_archive_and_restore_refuse_what_does_not_apply(api: Api) -> None:
    vip = await segment(api, "VIP")
    not_archived = await _restore(api, vip["id"])
    await _archive(api, vip["id"])
    twice = await _archive(api, vip["id"])
    unknown = await _archive(api, "123456")
    unknown_restore = await _restore(api, "nope")

    assert codes(not_archived) == [("CONFLICT", ["id"])]
    assert codes(twice) == [("CONFLICT", ["id"])]
    assert codes(unknown) == [("NOT_FOUND", ["id"])]
    assert codes(unknown_restore) == [("NOT_FOUND", ["id"])]


async def test_archive_and_delete_are_refused_while_a_rule_names_the_segment(api: Api) -> None:
    # given Base, named by the rules of Uses1 and Uses2
    base = await segment(api, "Base")
    await segment(api, "Uses1", type="DYNAMIC", rule="in_segment('Base')")
    await segment(api, "Uses2", type="DYNAMIC", rule="in_segment('Base') OR percent(5)")

    # when it is archived, and deleted
    archived = await _archive(api, base["id"])
    deleted = (await api.query(DELETE_SEGMENT, {"id": base["id"]}))["deleteSegment"]

    # then both are CONFLICT naming the segments, and nothing changed
    for payload in (archived, deleted):
        assert codes(payload) == [("CONFLICT", ["id"])]
        assert "'Uses1'" in payload["userErrors"][0]["message"]
        assert "'Uses2'" in payload["userErrors"][0]["message"]
    assert (await api.query(SEGMENT, {"id": base["id"]}))["segment"]["status"] == "ACTIVE"


async def test_archive_and_restore_are_audited(api: Api) -> None:
    vip = await segment(api, "VIP")
    await _archive(api, vip["id"])
    await _restore(api, vip["id"])
    trail = await events(api, vip["id"])
    assert [e["kind"] for e in trail] == ["RESTORED", "ARCHIVED", "CREATED"]
    assert trail[1]["changes"] == {"archived": {"before": False, "after": True}}
    assert trail[0]["changes"] == {"archived": {"before": True, "after": False}}


async def test_a_reader_cannot_archive_or_restore_and_a_writer_can(api: Api) -> None:
    vip = await segment(api, "VIP")
    reader = await api.with_role(Role.READER)
    writer = await api.with_role(Role.WRITER)

    attempts = [
        await reader.raw(ARCHIVE, {"id": vip["id"]}),
        await reader.raw(RESTORE, {"id": vip["id"]}),
    ]
    archived = await _archive(writer, vip["id"])
    restored = await _restore(writer, vip["id"])

    for body in attempts:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert archived["segment"]["status"] == "ARCHIVED"
    assert restored["segment"]["status"] == "ACTIVE"


async def test_another_sites_segment_cannot_be_archived_or_restored(
    api: Api, other_api: Api
) -> None:
    vip = await segment(api, "VIP")
    archived = await _archive(other_api, vip["id"])
    await _archive(api, vip["id"])
    restored = await _restore(other_api, vip["id"])

    assert codes(archived) == [("NOT_FOUND", ["id"])]
    assert codes(restored) == [("NOT_FOUND", ["id"])]
    assert (await api.query(SEGMENT, {"id": vip["id"]}))["segment"]["status"] == "ARCHIVED"


# ------------------------------------------------------------------ where used


async def test_usage_lists_flags_rules_personas_and_sending_campaigns(api: Api) -> None:
    # given Base, targeted by two flags, named by a rule, attached to two personas, and mailed
    await members(api, "m1", email="m1@example.com")
    base = await segment(api, "Base", memberIds=["m1"])
    for key in ("zeta", "alpha"):
        await api.query(CREATE_FLAG, {"input": {"key": key, "segmentIds": [base["id"]]}})
    await segment(api, "Uses", type="DYNAMIC", rule="in_segment('Base')")
    for name in ("Buyer", "Admin"):
        await attach(api, (await persona(api, name))["id"], base["id"])
    sent = await api.query(SEND, {"input": {"segmentId": base["id"], "subject": "s", "text": "t"}})
    campaign = sent["sendSegmentEmail"]["campaign"]

    # when its usage is read
    usage = (await api.query(USAGE, {"id": base["id"]}))["segment"]["usage"]

    # then each kind of use is listed
    assert usage["featureFlags"] == [{"key": "alpha"}, {"key": "zeta"}]
    assert usage["segments"] == [{"name": "Uses"}]
    assert usage["personas"] == [{"name": "Admin"}, {"name": "Buyer"}]
    # (no email worker runs in these tests: the campaign stays PENDING, still sending)
    assert usage["emailCampaigns"] == [{"id": campaign["id"], "status": "PENDING"}]


async def test_an_unused_segment_has_empty_usage(api: Api) -> None:
    lone = await segment(api, "Lone")
    usage = (await api.query(USAGE, {"id": lone["id"]}))["segment"]["usage"]
    assert usage == {"featureFlags": [], "segments": [], "personas": [], "emailCampaigns": []}


async def test_a_finished_campaign_is_not_in_usage(api: Api) -> None:
    # a segment with no recipient: its campaign is SUCCEEDED as it is made
    empty = await segment(api, "Empty")
    await api.query(SEND, {"input": {"segmentId": empty["id"], "subject": "s", "text": "t"}})
    usage = (await api.query(USAGE, {"id": empty["id"]}))["segment"]["usage"]
    assert usage["emailCampaigns"] == []


# ------------------------------------------------------------------ audit of updates


async def test_an_update_audits_each_changed_field_before_and_after(api: Api) -> None:
    # given a segment
    vip = await segment(api, "VIP", description="old", rule="attributes.tier = 'gold'")

    # when its name, rule and window change (and description is sent unchanged)
    ends = "2030-01-01T00:00:00+00:00"
    updated = await api.query(
        UPDATE_SEGMENT,
        {
            "id": vip["id"],
            "input": {
                "name": "Gold VIP",
                "description": "old",
                "rule": "attributes.tier = 'platinum'",
                "endsAt": ends,
                "isActive": False,
            },
        },
    )

    # then the UPDATED event carries each changed field, before and after, and only those
    assert updated["updateSegment"]["userErrors"] == []
    latest = (await events(api, vip["id"]))[0]
    assert latest["kind"] == "UPDATED"
    assert latest["changes"] == {
        "name": {"before": "VIP", "after": "Gold VIP"},
        "isActive": {"before": True, "after": False},
        "endsAt": {"before": None, "after": ends},
        "rule": {"before": "attributes.tier = 'gold'", "after": "attributes.tier = 'platinum'"},
    }


# ------------------------------------------------------------------ query-count guard

SEGMENTS_WITH_USAGE = """
{
  segments(first: 50) {
    edges {
      node {
        name options { label } personas { name }
        usage { featureFlags { key } segments { name } personas { name } emailCampaigns { id } }
      }
    }
  }
}
"""


async def _statements_for(api: Api, how_many: int) -> tuple[int, list[dict[str, Any]]]:
    ids = [(await segment(api, f"s{i:02}"))["id"] for i in range(how_many)]
    for i, segment_id in enumerate(ids):
        await option(api, segment_id, "opt")
        await attach(api, (await persona(api, f"p{i:02}"))["id"], segment_id)
        await api.query(CREATE_FLAG, {"input": {"key": f"f{i:02}", "segmentIds": [segment_id]}})
    await segment(api, "uses", type="DYNAMIC", rule="in_segment('s00') AND in_segment('s01')")
    with count_statements() as statements:
        data = await api.query(SEGMENTS_WITH_USAGE)
    listing = [s for s in statements if "api_keys" not in s and '"sites"' not in s]
    return len(listing), [e["node"] for e in data["segments"]["edges"]]


async def test_usage_options_and_personas_of_a_listing_take_the_same_statements_for_2_and_6(
    api: Api, other_api: Api
) -> None:
    # given a site with 2 used segments and another with 6
    # when each lists its segments with their options, personas and usage
    few, few_nodes = await _statements_for(api, 2)
    many, many_nodes = await _statements_for(other_api, 6)

    # then the answers are right
    assert few_nodes[0] == {
        "name": "s00",
        "options": [{"label": "opt"}],
        "personas": [{"name": "p00"}],
        "usage": {
            "featureFlags": [{"key": "f00"}],
            "segments": [{"name": "uses"}],
            "personas": [{"name": "p00"}],
            "emailCampaigns": [],
        },
    }
    assert [n["usage"]["segments"] for n in many_nodes[:3]] == [
        [{"name": "uses"}],
        [{"name": "uses"}],
        [],
    ]

    # and the number of SQL statements does not grow with them
    assert few == many, f"{few} statements for 2, {many} for 6"
