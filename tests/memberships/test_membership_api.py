"""Bulk membership over GraphQL: modes, counts, expiry, dry runs, exclusions, moves,
batches, idempotency, limits, tenancy, roles and the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.auth.models import Role
from app.changes.sweeper import sweep
from app.db import execute
from app.memberships.models import SegmentMember
from app.settings import get_settings
from tests.factories import Api, companies, members, segment

UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) {
    added removed unchanged unknownIds unknownCount
    segment { id memberCount }
    userErrors { field message code }
  }
}
"""

UPDATE_COMPANIES = """
mutation($input: UpdateSegmentCompaniesInput!) {
  updateSegmentCompanies(input: $input) {
    added removed unchanged unknownIds unknownCount
    segment { memberCount companyCount }
    userErrors { field message code }
  }
}
"""

UPDATE_EXCLUSIONS = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) {
    added removed unchanged unknownCount
    segment { memberCount excludedMembers { totalCount edges { node { id } } } }
    userErrors { field message code }
  }
}
"""

MOVE = """
mutation($input: MoveSegmentMembersInput!) {
  moveSegmentMembers(input: $input) {
    added removed unchanged unknownIds unknownCount
    userErrors { field message code }
  }
}
"""

APPLY = """
mutation($changes: [MembershipChangeInput!]!, $key: String) {
  applyMembershipChanges(changes: $changes, idempotencyKey: $key) {
    results { added removed unchanged unknownCount segment { id } }
    userErrors { field message code }
  }
}
"""

MEMBER_IDS = """
query($id: ID!) {
  segment(id: $id) {
    memberCount
    members(first: 500) { edges { source expiresAt node { id } } }
  }
}
"""

EVENTS = """
query($id: ID!) {
  segment(id: $id) { events { totalCount edges { node { kind actor count sampleIds segmentId } } } }
}
"""


async def listed(api: Api, segment_id: str) -> list[str]:
    data = await api.query(MEMBER_IDS, {"id": segment_id})
    return sorted(e["node"]["id"] for e in data["segment"]["members"]["edges"])


async def update(
    api: Api, segment_id: str, ids: list[str], mode: str, **extra: Any
) -> dict[str, Any]:
    data = await api.query(
        UPDATE_MEMBERS,
        {"input": {"segmentId": segment_id, "memberIds": ids, "mode": mode, **extra}},
    )
    result: dict[str, Any] = data["updateSegmentMembers"]
    return result


async def test_add_counts_new_known_duplicate_and_unknown_ids(api: Api) -> None:
    # given members u1..u3 and a segment listing u1
    await members(api, "u1", "u2", "u3")
    seg = await segment(api, "S", memberIds=["u1"])
    # when u1 (listed), u2 twice and two unknown ids are added
    result = await update(api, seg["id"], ["u1", "u2", "u2", "x9", "x8", "x9"], "ADD")
    # then the counts are exact, duplicates counting once, unknown ids in input order
    assert result["added"] == 1
    assert result["unchanged"] == 1
    assert result["removed"] == 0
    assert result["unknownIds"] == ["x9", "x8"]
    assert result["unknownCount"] == 2
    assert result["userErrors"] == []
    assert result["segment"]["memberCount"] == 2
    assert await listed(api, seg["id"]) == ["u1", "u2"]


async def test_override_makes_the_listed_members_exactly_the_ids(api: Api) -> None:
    await members(api, "u1", "u2", "u3", "u4")
    seg = await segment(api, "S", memberIds=["u1", "u2", "u3"])
    result = await update(api, seg["id"], ["u3", "u4", "nobody"], "OVERRIDE")
    assert (result["added"], result["removed"], result["unchanged"]) == (1, 2, 1)
    assert result["unknownIds"] == ["nobody"]
    assert await listed(api, seg["id"]) == ["u3", "u4"]


async def test_override_with_no_ids_empties_the_list(api: Api) -> None:
    await members(api, "u1", "u2")
    seg = await segment(api, "S", memberIds=["u1", "u2"])
    result = await update(api, seg["id"], [], "OVERRIDE")
    assert result["removed"] == 2
    assert await listed(api, seg["id"]) == []


async def test_delete_removes_listed_and_reports_the_rest(api: Api) -> None:
    await members(api, "u1", "u2", "u3")
    seg = await segment(api, "S", memberIds=["u1", "u2"])
    result = await update(api, seg["id"], ["u1", "u3", "ghost"], "DELETE")
    assert (result["added"], result["removed"], result["unchanged"]) == (0, 1, 1)
    assert result["unknownIds"] == ["ghost"]
    assert await listed(api, seg["id"]) == ["u2"]


async def test_create_missing_creates_bare_members(api: Api) -> None:
    seg = await segment(api, "S")
    result = await update(api, seg["id"], ["new1", "new2"], "ADD", createMissing=True)
    assert result["added"] == 2
    assert result["unknownCount"] == 0
    data = await api.query('{ member(id: "new1") { id email attributes } }')
    assert data["member"] == {"id": "new1", "email": None, "attributes": {}}


async def test_expired_listing_is_no_longer_a_member(api: Api) -> None:
    # given u1 listed until a moment that has passed and u2 until next week
    await members(api, "u1", "u2")
    seg = await segment(api, "S")
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    assert (await update(api, seg["id"], ["u1"], "ADD", expiresAt=soon))["added"] == 1
    assert (await update(api, seg["id"], ["u2"], "ADD", expiresAt=future))["added"] == 1
    # time passes for u1: its listing's end is now behind us, and no job runs
    await SegmentMember.filter(member__external_id="u1").update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    # (and the site's expiries were last recorded before it passed)
    await execute(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [datetime.now(UTC) - timedelta(seconds=2), api.site.id],
    )
    # then at once u1 is no longer a member nor listed (lookups and pages read the expiry)
    data = await api.query(MEMBER_IDS, {"id": seg["id"]})
    is_member = 'query($s: ID!) { isMember(segmentId: $s, memberId: "u1") }'
    assert (await api.query(is_member, {"s": seg["id"]}))["isMember"] is False
    # and once the sweeper has recorded the expiry, only u2 counts (the kept counter)
    assert (await sweep()).expired == 1
    assert (await api.query(MEMBER_IDS, {"id": seg["id"]}))["segment"]["memberCount"] == 1
    edges = data["segment"]["members"]["edges"]
    assert [e["node"]["id"] for e in edges] == ["u2"]
    assert datetime.fromisoformat(edges[0]["expiresAt"]) > datetime.now(UTC)
    # and re-adding u1 without an end revives it, counted as added
    result = await update(api, seg["id"], ["u1"], "ADD")
    assert result["added"] == 1
    assert await listed(api, seg["id"]) == ["u1", "u2"]


async def test_dry_run_reports_the_same_counts_and_changes_nothing(api: Api) -> None:
    await members(api, "u1", "u2", "u3")
    seg = await segment(api, "S", memberIds=["u1", "u2"])
    dry = await update(api, seg["id"], ["u2", "u3", "zz"], "OVERRIDE", dryRun=True)
    assert await listed(api, seg["id"]) == ["u1", "u2"]
    events = await api.query(EVENTS, {"id": seg["id"]})
    kinds = [e["node"]["kind"] for e in events["segment"]["events"]["edges"]]
    real = await update(api, seg["id"], ["u2", "u3", "zz"], "OVERRIDE")
    for key in ("added", "removed", "unchanged", "unknownIds", "unknownCount"):
        assert dry[key] == real[key]
    assert (real["added"], real["removed"]) == (1, 1)
    assert "MEMBERS_REMOVED" not in kinds


async def test_companies_make_their_members_effective_members(api: Api) -> None:
    await companies(api, "c1", "c2")
    await members(api, "u1", "u2", companyId="c1")
    await members(api, "u3", companyId="c2")
    seg = await segment(api, "S")
    data = await api.query(
        UPDATE_COMPANIES,
        {"input": {"segmentId": seg["id"], "companyIds": ["c1", "nope"], "mode": "ADD"}},
    )
    result = data["updateSegmentCompanies"]
    assert (result["added"], result["unknownIds"]) == (1, ["nope"])
    assert result["segment"] == {"memberCount": 2, "companyCount": 1}
    members_data = await api.query(MEMBER_IDS, {"id": seg["id"]})
    assert {e["source"] for e in members_data["segment"]["members"]["edges"]} == {"COMPANY"}
    # a dry run of removing the company changes nothing
    data = await api.query(
        UPDATE_COMPANIES,
        {"input": {"segmentId": seg["id"], "companyIds": ["c1"], "mode": "DELETE", "dryRun": True}},
    )
    assert data["updateSegmentCompanies"]["removed"] == 1
    assert data["updateSegmentCompanies"]["segment"]["companyCount"] == 1


async def test_exclusions_win_over_lists_and_companies(api: Api) -> None:
    await companies(api, "c1")
    await members(api, "u1", "u2", companyId="c1")
    await members(api, "u3")
    seg = await segment(api, "S", memberIds=["u1", "u3"], companyIds=["c1"])
    assert (await api.query(MEMBER_IDS, {"id": seg["id"]}))["segment"]["memberCount"] == 3
    data = await api.query(
        UPDATE_EXCLUSIONS,
        {"input": {"segmentId": seg["id"], "memberIds": ["u1", "u2"], "mode": "ADD"}},
    )
    result = data["updateSegmentExclusions"]
    assert result["added"] == 2
    assert result["segment"]["memberCount"] == 1
    assert result["segment"]["excludedMembers"]["totalCount"] == 2
    assert await listed(api, seg["id"]) == ["u3"]
    # removing an exclusion brings the member back
    data = await api.query(
        UPDATE_EXCLUSIONS,
        {"input": {"segmentId": seg["id"], "memberIds": ["u2"], "mode": "DELETE"}},
    )
    assert data["updateSegmentExclusions"]["removed"] == 1
    assert await listed(api, seg["id"]) == ["u2", "u3"]


async def test_move_given_members_to_another_segment(api: Api) -> None:
    await members(api, "u1", "u2", "u3")
    a = await segment(api, "A", memberIds=["u1", "u2", "u3"])
    b = await segment(api, "B", memberIds=["u3"])
    data = await api.query(
        MOVE,
        {"input": {"fromSegmentId": a["id"], "toSegmentId": b["id"], "memberIds": ["u1", "u3"]}},
    )
    result = data["moveSegmentMembers"]
    assert (result["removed"], result["added"], result["unchanged"]) == (2, 1, 1)
    assert await listed(api, a["id"]) == ["u2"]
    assert await listed(api, b["id"]) == ["u1", "u3"]


async def test_move_everyone_without_target_only_removes(api: Api) -> None:
    await members(api, "u1", "u2")
    a = await segment(api, "A", memberIds=["u1", "u2"])
    data = await api.query(MOVE, {"input": {"fromSegmentId": a["id"]}})
    assert data["moveSegmentMembers"]["removed"] == 2
    assert await listed(api, a["id"]) == []


async def test_batch_applies_in_order_in_one_transaction(api: Api) -> None:
    await members(api, "u1", "u2")
    await companies(api, "c1")
    a = await segment(api, "A")
    b = await segment(api, "B", memberIds=["u1"])
    changes = [
        {"segmentId": a["id"], "mode": "ADD", "memberIds": ["u1", "u2"], "companyIds": ["c1"]},
        {"segmentId": b["id"], "mode": "DELETE", "memberIds": ["u1"]},
    ]
    data = await api.query(APPLY, {"changes": changes})
    results = data["applyMembershipChanges"]["results"]
    assert [(r["added"], r["removed"]) for r in results] == [(3, 0), (0, 1)]
    assert [r["segment"]["id"] for r in results] == [a["id"], b["id"]]


async def test_batch_failing_half_way_changes_nothing(api: Api) -> None:
    await members(api, "u1", "u2")
    a = await segment(api, "A")
    changes = [
        {"segmentId": a["id"], "mode": "ADD", "memberIds": ["u1", "u2"]},
        {"segmentId": "999999", "mode": "ADD", "memberIds": ["u1"]},
    ]
    data = await api.query(APPLY, {"changes": changes})
    payload = data["applyMembershipChanges"]
    assert payload["results"] == []
    assert payload["userErrors"][0]["code"] == "NOT_FOUND"
    assert payload["userErrors"][0]["field"] == ["changes", "1", "segmentId"]
    assert await listed(api, a["id"]) == []


async def test_idempotent_retry_returns_the_first_payload_and_changes_nothing(api: Api) -> None:
    await members(api, "u1", "u2")
    seg = await segment(api, "S")
    first = await update(api, seg["id"], ["u1"], "ADD", idempotencyKey="nightly-1")
    # meanwhile someone removes u1; the retry must not add it again
    await update(api, seg["id"], ["u1"], "DELETE")
    again = await update(api, seg["id"], ["u1"], "ADD", idempotencyKey="nightly-1")
    assert again["added"] == first["added"] == 1
    assert await listed(api, seg["id"]) == []
    # the same key with another input is refused
    other = await update(api, seg["id"], ["u2"], "ADD", idempotencyKey="nightly-1")
    assert other["userErrors"][0]["code"] == "IDEMPOTENCY_MISMATCH"
    assert await listed(api, seg["id"]) == []


async def test_idempotency_covers_batches(api: Api) -> None:
    await members(api, "u1")
    a = await segment(api, "A")
    changes = [{"segmentId": a["id"], "mode": "ADD", "memberIds": ["u1"]}]
    one = await api.query(APPLY, {"changes": changes, "key": "b-1"})
    await update(api, a["id"], ["u1"], "DELETE")
    two = await api.query(APPLY, {"changes": changes, "key": "b-1"})
    assert one == two
    assert await listed(api, a["id"]) == []


async def test_over_the_id_limit_is_too_large_and_changes_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await members(api, "u1", "u2", "u3")
    seg = await segment(api, "S")
    monkeypatch.setenv("MAX_BULK_IDS", "2")
    get_settings.cache_clear()
    try:
        result = await update(api, seg["id"], ["u1", "u2", "u3"], "ADD")
    finally:
        monkeypatch.delenv("MAX_BULK_IDS")
        get_settings.cache_clear()
    assert result["userErrors"][0]["code"] == "TOO_LARGE"
    assert "limit of 2" in result["userErrors"][0]["message"]
    assert await listed(api, seg["id"]) == []


async def test_another_sites_segment_and_members_are_out_of_reach(api: Api, other_api: Api) -> None:
    # given a segment of the first site and a member id that both sites use
    await members(api, "shared", "mine")
    await members(other_api, "shared")
    seg = await segment(api, "S", memberIds=["mine"])
    theirs = await segment(other_api, "T")
    # when the second site targets the first site's segment: not found, nothing changed
    result = await update(other_api, seg["id"], ["shared"], "OVERRIDE")
    assert result["userErrors"][0]["code"] == "NOT_FOUND"
    assert await listed(api, seg["id"]) == ["mine"]
    # and ids of the first site's members are unknown to the second site
    result = await update(other_api, theirs["id"], ["mine", "shared"], "ADD")
    assert (result["added"], result["unknownIds"]) == (1, ["mine"])


async def test_a_reader_cannot_change_membership(api: Api) -> None:
    await members(api, "u1")
    seg = await segment(api, "S")
    reader = await api.with_role(Role.READER)
    body = await reader.raw(
        UPDATE_MEMBERS, {"input": {"segmentId": seg["id"], "memberIds": ["u1"], "mode": "ADD"}}
    )
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await listed(api, seg["id"]) == []


async def test_each_applied_change_writes_an_audit_event(api: Api) -> None:
    await members(api, "u1", "u2", "u3")
    seg = await segment(api, "S", memberIds=["u1"])
    writer = await api.with_role(Role.WRITER)
    await update(writer, seg["id"], ["u2", "u3"], "OVERRIDE")
    data = await api.query(EVENTS, {"id": seg["id"]})
    nodes = [e["node"] for e in data["segment"]["events"]["edges"]]
    # newest first: the override's removal and addition, then the creation's
    assert [n["kind"] for n in nodes[:2]] == ["MEMBERS_REMOVED", "MEMBERS_ADDED"]
    by_kind = {n["kind"]: n for n in nodes[:2]}
    assert by_kind["MEMBERS_ADDED"]["count"] == 2
    assert sorted(by_kind["MEMBERS_ADDED"]["sampleIds"]) == ["u2", "u3"]
    assert by_kind["MEMBERS_REMOVED"]["sampleIds"] == ["u1"]
    assert by_kind["MEMBERS_ADDED"]["actor"] == "writer-key"
    assert nodes[-1]["kind"] == "CREATED"
    assert data["segment"]["events"]["totalCount"] == len(nodes)


async def test_an_expiry_in_the_past_is_refused(api: Api) -> None:
    await members(api, "u1")
    seg = await segment(api, "S")
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    result = await update(api, seg["id"], ["u1"], "ADD", expiresAt=past)
    assert result["userErrors"][0]["code"] == "INVALID"
    assert result["userErrors"][0]["field"] == ["input", "expiresAt"]
    assert await listed(api, seg["id"]) == []
