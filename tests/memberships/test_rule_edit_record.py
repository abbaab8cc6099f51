"""A rule edit's record, in the order the record promises: each (kind) group's changes in
member order, the groups in the order of their first change (PostgreSQL numbers the changes of
one segment by member id instead of sorting them; SQLite sorts them)."""

from __future__ import annotations

from tests.changes.support import Log, assert_consistent
from tests.factories import Api, members, segment

UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { userErrors { code message } }
}
"""


async def test_a_rule_edit_records_its_changes_in_member_order(api: Api) -> None:
    # given members made in the reverse of their ids' text order (f first: the lowest member
    # id), every other one matching the rule
    for i, ref in enumerate("fedcba"):
        await members(api, ref, attributes={"n": i % 2})
    made = (await segment(api, "Odd", type="DYNAMIC", rule="attributes.n > 0"))["id"]
    log = await Log.start(api.site.id)

    # when the rule is turned around (the matching members leave, the others enter)
    data = await api.query(UPDATE_SEGMENT, {"id": made, "input": {"rule": "attributes.n <= 0"}})
    assert data["updateSegment"]["userErrors"] == []

    # then the entering group comes first (its first change is f's, the lowest member id), and
    # each group lists its members in member order, not in their ids' text order
    assert await log.new() == [
        ("Odd", "f", "ENTERED", "RULE_CHANGED"),
        ("Odd", "d", "ENTERED", "RULE_CHANGED"),
        ("Odd", "b", "ENTERED", "RULE_CHANGED"),
        ("Odd", "e", "EXITED", "RULE_CHANGED"),
        ("Odd", "c", "EXITED", "RULE_CHANGED"),
        ("Odd", "a", "EXITED", "RULE_CHANGED"),
    ]
    await assert_consistent(api.site.id)
