"""One upsertMembers whose members change different fields: each member is asked the rules
reading a field its write changed (a new member every rule), each rule answers as the rule
language says (a value of another type than the literal is unknown), company fields and
in_segment() read through; the record and the kept rows are those of a recomputation."""

from __future__ import annotations

from tests.changes.support import Log, assert_consistent
from tests.factories import Api, companies, segment

UPSERT = """
mutation($members: [MemberInput!]!) { upsertMembers(members: $members) { userErrors { code } } }
"""


async def _upsert(api: Api, *rows: dict[str, object]) -> None:
    data = await api.query(UPSERT, {"members": list(rows)})
    assert data["upsertMembers"]["userErrors"] == []


async def test_each_member_is_asked_the_rules_reading_what_its_write_changed(api: Api) -> None:
    await companies(api, "acme", plan="paid")
    await _upsert(
        api,
        {"id": "a", "attributes": {"tier": "gold", "points": 10}},
        {"id": "b", "attributes": {"tier": "bronze", "points": 10}, "companyId": "acme"},
        {"id": "c", "email": "c@old.test", "attributes": {"tier": "gold", "points": "10"}},
    )
    await segment(api, "Gold", type="DYNAMIC", rule="attributes.tier = 'gold'")
    await segment(api, "Rich", type="DYNAMIC", rule="attributes.points >= 100")
    await segment(api, "Mail", type="DYNAMIC", rule="email ENDS WITH '@new.test'")
    await segment(
        api, "PaidRich", type="DYNAMIC", rule="company.plan = 'paid' AND in_segment('Rich')"
    )
    await segment(api, "Recent", type="DYNAMIC", rule="updated_at > days_ago(1)")
    log = await Log.start(api.site.id)
    await _upsert(
        api,
        {"id": "a", "attributes": {"tier": "silver"}},  # Gold only
        {"id": "b", "attributes": {"points": 500}},  # Rich, then PaidRich through in_segment
        {"id": "c", "attributes": {"points": 500}},  # a number now (was a string): Rich
        {"id": "d", "email": "d@new.test", "attributes": {"tier": True}},  # new: every rule
    )
    assert sorted(await log.new()) == sorted(
        [
            ("Gold", "a", "EXITED", "MEMBER_CHANGED"),
            ("Rich", "b", "ENTERED", "MEMBER_CHANGED"),
            ("PaidRich", "b", "ENTERED", "NESTED"),
            ("Rich", "c", "ENTERED", "MEMBER_CHANGED"),
            ("Mail", "d", "ENTERED", "MEMBER_CHANGED"),
            ("Recent", "d", "ENTERED", "MEMBER_CHANGED"),
        ]
    )
    await assert_consistent(api.site.id)
