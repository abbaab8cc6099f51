"""Every cause writes exactly the records it should, in the write's transaction, and nothing
for a write that changes no membership; the kept rows and counters follow each write."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.changes import sweeper
from tests.changes.support import Log, assert_consistent, kept_state
from tests.factories import Api, companies, members, segment
from tests.jobs.support import import_file

UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added removed userErrors { code } }
}
"""
UPDATE_COMPANIES = """
mutation($input: UpdateSegmentCompaniesInput!) {
  updateSegmentCompanies(input: $input) { added removed userErrors { code } }
}
"""
UPDATE_EXCLUSIONS = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added removed userErrors { code } }
}
"""
MOVE = """
mutation($input: MoveSegmentMembersInput!) {
  moveSegmentMembers(input: $input) { added removed userErrors { code } }
}
"""
BATCH = """
mutation($changes: [MembershipChangeInput!]!) {
  applyMembershipChanges(changes: $changes) { userErrors { code } }
}
"""
UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { userErrors { code message } }
}
"""
DELETE_SEGMENT = "mutation($id: ID!) { deleteSegment(id: $id) { userErrors { code } } }"
DELETE_MEMBERS = "mutation($ids: [ID!]!) { deleteMembers(ids: $ids) { deleted } }"
INCLUDE = "mutation($id: ID!) { includeEligibleMembers(segmentId: $id) { added } }"
FREEZE = """
mutation($id: ID!, $name: String!) { freezeSegment(id: $id, name: $name) { segment { id } } }
"""
UPSERT = """
mutation($members: [MemberInput!]!) { upsertMembers(members: $members) { userErrors { code } } }
"""
UPSERT_COMPANIES = """
mutation($companies: [CompanyInput!]!) {
  upsertCompanies(companies: $companies) { userErrors { code } }
}
"""


async def _list(api: Api, seg: str, mode: str, *ids: str, **more: Any) -> dict[str, Any]:
    data = await api.query(
        UPDATE_MEMBERS, {"input": {"segmentId": seg, "memberIds": list(ids), "mode": mode, **more}}
    )
    payload: dict[str, Any] = data["updateSegmentMembers"]
    assert payload["userErrors"] == []
    return payload


async def _counts(api: Api, seg: str) -> tuple[int, int]:
    _, counts = await kept_state(api.site.id)
    return counts[int(seg)]


async def test_listing_records_entries_and_exits_once(api: Api) -> None:
    await members(api, "a", "b", "c")
    gold = (await segment(api, "Gold"))["id"]
    log = await Log.start(api.site.id)
    await _list(api, gold, "ADD", "a", "b")
    assert await log.new() == [
        ("Gold", "a", "ENTERED", "LISTED"),
        ("Gold", "b", "ENTERED", "LISTED"),
    ]
    await _list(api, gold, "ADD", "a", "b")  # unchanged: nothing
    await _list(api, gold, "ADD", "c", dryRun=True)  # a dry run: nothing
    assert await log.new() == []
    assert await _counts(api, gold) == (2, 0)
    await _list(api, gold, "OVERRIDE", "b", "c")
    assert await log.new() == [
        ("Gold", "a", "EXITED", "UNLISTED"),
        ("Gold", "c", "ENTERED", "LISTED"),
    ]
    await _list(api, gold, "DELETE", "b", "zz")
    assert await log.new() == [("Gold", "b", "EXITED", "UNLISTED")]
    assert await _counts(api, gold) == (1, 0)
    await assert_consistent(api.site.id)


async def test_a_failed_batch_records_nothing(api: Api) -> None:
    await members(api, "a")
    gold = (await segment(api, "Gold"))["id"]
    log = await Log.start(api.site.id)
    data = await api.query(
        BATCH,
        {
            "changes": [
                {"segmentId": gold, "mode": "ADD", "memberIds": ["a"]},
                {"segmentId": "999999", "mode": "ADD", "memberIds": ["a"]},
            ]
        },
    )
    assert data["applyMembershipChanges"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert await log.new() == []
    assert await _counts(api, gold) == (0, 0)


async def test_companies_and_exclusions(api: Api) -> None:
    await companies(api, "acme", "globex")
    await members(api, "a", "b", companyId="acme")
    await members(api, "c", companyId="globex")
    gold = (await segment(api, "Gold", memberIds=["a"]))["id"]
    log = await Log.start(api.site.id)
    await api.query(
        UPDATE_COMPANIES, {"input": {"segmentId": gold, "companyIds": ["acme"], "mode": "ADD"}}
    )
    assert await log.new() == [("Gold", "b", "ENTERED", "COMPANY")]  # a was listed already
    assert await _counts(api, gold) == (2, 1)
    await _list(api, gold, "DELETE", "a")  # still in through acme: no change
    assert await log.new() == []
    await api.query(
        UPDATE_EXCLUSIONS, {"input": {"segmentId": gold, "memberIds": ["a", "c"], "mode": "ADD"}}
    )
    assert await log.new() == [("Gold", "a", "EXITED", "EXCLUDED")]
    await api.query(
        UPDATE_EXCLUSIONS, {"input": {"segmentId": gold, "memberIds": ["a"], "mode": "DELETE"}}
    )
    assert await log.new() == [("Gold", "a", "ENTERED", "EXCLUDED")]
    await api.query(
        UPDATE_COMPANIES,
        {"input": {"segmentId": gold, "companyIds": ["globex"], "mode": "OVERRIDE"}},
    )
    assert await log.new() == [
        ("Gold", "a", "EXITED", "COMPANY"),
        ("Gold", "b", "EXITED", "COMPANY"),
    ]  # c stays excluded
    assert await _counts(api, gold) == (0, 1)
    await members(api, "a", companyId="globex")  # moved into a listed company
    assert await log.new() == [("Gold", "a", "ENTERED", "COMPANY")]
    await assert_consistent(api.site.id)


async def test_rules_member_changes_and_nesting(api: Api) -> None:
    await members(api, "a", attributes={"plan": "pro"})
    await members(api, "b", attributes={"plan": "free"})
    base = (await segment(api, "Base"))["id"]
    log = await Log.start(api.site.id)
    pro = (await segment(api, "Pro", type="DYNAMIC", rule="attributes.plan = 'pro'"))["id"]
    assert await log.new() == [("Pro", "a", "ENTERED", "RULE_CHANGED")]
    await segment(api, "ProBase", type="DYNAMIC", rule="in_segment('Pro') AND in_segment('Base')")
    assert await log.new() == []
    await _list(api, base, "ADD", "a")
    assert await log.new() == [
        ("Base", "a", "ENTERED", "LISTED"),
        ("ProBase", "a", "ENTERED", "NESTED"),
    ]
    await members(api, "a", attributes={"plan": "pro"})  # no change of any answer
    assert await log.new() == []
    await members(api, "a", attributes={"plan": "free"})
    assert await log.new() == [
        ("Pro", "a", "EXITED", "MEMBER_CHANGED"),
        ("ProBase", "a", "EXITED", "NESTED"),
    ]
    await members(api, "b", "new", attributes={"plan": "pro"})
    assert await log.new() == [
        ("Pro", "b", "ENTERED", "MEMBER_CHANGED"),
        ("Pro", "new", "ENTERED", "MEMBER_CHANGED"),
    ]
    await api.query(UPDATE_SEGMENT, {"id": pro, "input": {"rule": "attributes.plan = 'free'"}})
    assert await log.new() == [
        ("Pro", "a", "ENTERED", "RULE_CHANGED"),
        ("Pro", "b", "EXITED", "RULE_CHANGED"),
        ("Pro", "new", "EXITED", "RULE_CHANGED"),
        ("ProBase", "a", "ENTERED", "NESTED"),
    ]
    await api.query(UPDATE_SEGMENT, {"id": pro, "input": {"description": "only text"}})
    assert await log.new() == []
    await assert_consistent(api.site.id)


async def test_company_fields_and_type_changes(api: Api) -> None:
    await companies(api, "acme", plan="free")
    await members(api, "a", "b", companyId="acme")
    paying = (await segment(api, "Paying", type="DYNAMIC", rule="company.plan = 'paid'"))["id"]
    log = await Log.start(api.site.id)
    await api.query(
        UPSERT_COMPANIES, {"companies": [{"id": "acme", "name": "Acme", "plan": "paid"}]}
    )
    assert await log.new() == [
        ("Paying", "a", "ENTERED", "MEMBER_CHANGED"),
        ("Paying", "b", "ENTERED", "MEMBER_CHANGED"),
    ]
    assert await _counts(api, paying) == (2, 0)
    await api.query(UPDATE_SEGMENT, {"id": paying, "input": {"type": "STATIC"}})
    assert await log.new() == [
        ("Paying", "a", "EXITED", "RULE_CHANGED"),
        ("Paying", "b", "EXITED", "RULE_CHANGED"),
    ]
    assert await _counts(api, paying) == (0, 0)
    await assert_consistent(api.site.id)


async def test_deletes_move_include_and_freeze(api: Api) -> None:
    await members(api, "a", "b", "c", attributes={"vip": True})
    one = (await segment(api, "One", memberIds=["a", "b"]))["id"]
    two = (await segment(api, "Two", memberIds=["b"]))["id"]
    log = await Log.start(api.site.id)
    await api.query(MOVE, {"input": {"fromSegmentId": one, "toSegmentId": two}})
    assert await log.new() == [
        ("One", "a", "EXITED", "UNLISTED"),
        ("One", "b", "EXITED", "UNLISTED"),
        ("Two", "a", "ENTERED", "LISTED"),
    ]
    rule = await segment(api, "Vip", rule="attributes.vip = true")
    await api.query(INCLUDE, {"id": rule["id"]})
    assert await log.new() == [(("Vip", m, "ENTERED", "LISTED")) for m in ("a", "b", "c")]
    await api.query(FREEZE, {"id": two, "name": "Two then"})
    assert await log.new() == [
        ("Two then", "a", "ENTERED", "LISTED"),
        ("Two then", "b", "ENTERED", "LISTED"),
    ]
    await api.query(DELETE_MEMBERS, {"ids": ["a"]})
    assert sorted(await log.new()) == [
        ("Two", "a", "EXITED", "MEMBER_DELETED"),
        ("Two then", "a", "EXITED", "MEMBER_DELETED"),
        ("Vip", "a", "EXITED", "MEMBER_DELETED"),
    ]
    await api.query(DELETE_SEGMENT, {"id": two})
    assert await log.new() == [(str(two), "b", "EXITED", "SEGMENT_DELETED")]
    await assert_consistent(api.site.id)


async def test_the_sweeper_records_expiry_and_the_clock(api: Api) -> None:
    await members(api, "a", "b")
    now = datetime.now(UTC)
    soon = now + timedelta(hours=1)
    gold = (await segment(api, "Gold"))["id"]
    await segment(api, "New", type="DYNAMIC", rule="created_at > days_ago(1)")
    log = await Log.start(api.site.id)
    await _list(api, gold, "ADD", "a", expiresAt=soon.isoformat())
    assert await log.new() == [("Gold", "a", "ENTERED", "LISTED")]
    await sweeper.sweep(now=now + timedelta(minutes=30))
    assert await log.new() == []
    done = await sweeper.sweep(now=now + timedelta(days=2))
    assert (done.expired, done.clocked) == (1, 2)
    assert sorted(await log.new()) == [
        ("Gold", "a", "EXITED", "EXPIRED"),
        ("New", "a", "EXITED", "TIME"),
        ("New", "b", "EXITED", "TIME"),
    ]
    assert await _counts(api, gold) == (0, 0)
    await sweeper.sweep(now=now + timedelta(days=2, minutes=1))
    assert await log.new() == []
    await assert_consistent(api.site.id, now + timedelta(days=2))


async def test_an_import_records_its_rule_changes_then_its_listing(api: Api) -> None:
    await members(api, "a", attributes={"tier": "bronze"})
    listed = (await segment(api, "Imported", memberIds=["a"]))["id"]
    await segment(api, "Gold", type="DYNAMIC", rule="attributes.tier = 'gold'")
    log = await Log.start(api.site.id)
    # when a file upserts a (now gold) and b (new, gold) and OVERRIDEs the segment with both
    csv = "id,tier\na,gold\nb,gold\n"
    job = await import_file(api, csv, "CSV", segment_id=listed, mode="OVERRIDE")
    assert job["status"] == "SUCCEEDED"
    # then the batch's rule changes, then the segment's new listing (a was listed already)
    assert await log.new() == [
        ("Gold", "a", "ENTERED", "MEMBER_CHANGED"),
        ("Gold", "b", "ENTERED", "MEMBER_CHANGED"),
        ("Imported", "b", "ENTERED", "LISTED"),
    ]
    await assert_consistent(api.site.id)
