"""Deleting a segment that personas use is refused (CONFLICT at the id, naming the personas),
as a foreign key would refuse it: a persona's members are those of every one of its segments,
so losing one would quietly widen it. Detaching the segment first is the persona owner's
decision; then the delete goes through."""

from __future__ import annotations

from typing import Any

from tests.factories import Api, members, segment
from tests.personas.support import DETACH, attach, member_ids, persona

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { field message code } } }
"""
ARCHIVE_SEGMENT = """
mutation($id: ID!) { archiveSegment(id: $id) { segment { status } userErrors { code } } }
"""
SEGMENT = """
query($id: ID!) { segment(id: $id) { name memberCount personas { name } } }
"""
# a lock wait far longer than any test run means the delete is not waiting
GENEROUS_SECONDS = 30


async def _site(api: Api) -> tuple[str, str]:
    """Listed (m1, m2, m3) and Gold (a rule: m2, m3, m4); a persona of both has m2 and m3."""
    await members(api, "m1")
    await members(api, "m2", "m3", "m4", attributes={"tier": "gold"})
    listed = await segment(api, "Listed", memberIds=["m1", "m2", "m3"])
    gold = await segment(api, "Gold", type="DYNAMIC", rule="attributes.tier = 'gold'")
    return listed["id"], gold["id"]


async def _delete(api: Api, segment_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.query(DELETE_SEGMENT, {"id": segment_id}))["deleteSegment"]
    return payload


async def test_deleting_a_segment_a_persona_uses_is_refused(api: Api) -> None:
    # given a persona of Listed and Gold (members m2, m3)
    listed, gold = await _site(api)
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], listed)
    await attach(api, admin["id"], gold)

    # when Gold is deleted
    payload = await _delete(api, gold)

    # then it is refused at the id, naming the persona, and nothing changed: the segment, its
    # members, the persona's segments and members
    assert payload["deletedId"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("CONFLICT", ["id"])
    assert error["message"] == (
        "segment 'Gold' cannot be deleted: persona 'Admin' uses it (a persona's members are in"
        " every one of its segments); detach it from that persona first"
    )
    found = (await api.query(SEGMENT, {"id": gold}))["segment"]
    assert found == {"name": "Gold", "memberCount": 3, "personas": [{"name": "Admin"}]}
    assert await member_ids(api, admin["id"]) == (2, ["m2", "m3"])


async def test_the_refusal_names_every_persona_using_it_in_name_order(api: Api) -> None:
    # given Gold in the personas Buyer and Admin, and Listed alone in Other
    listed, gold = await _site(api)
    for name in ("Buyer", "Admin"):
        await attach(api, (await persona(api, name))["id"], gold)
    await attach(api, (await persona(api, "Other"))["id"], listed)

    # when Gold is deleted, then both of its personas are named, not Other
    [error] = (await _delete(api, gold))["userErrors"]
    assert error["code"] == "CONFLICT"
    assert "personas 'Admin', 'Buyer' use it" in error["message"]
    assert "Other" not in error["message"]


async def test_the_refusal_names_ten_personas_and_counts_the_rest(api: Api) -> None:
    _, gold = await _site(api)
    for i in range(12):
        await attach(api, (await persona(api, f"P{i:02}"))["id"], gold)

    [error] = (await _delete(api, gold))["userErrors"]

    named = ", ".join(f"'P{i:02}'" for i in range(10))
    assert f"personas {named} and 2 more use it" in error["message"]


async def test_an_archived_segment_a_persona_uses_is_refused_too(api: Api) -> None:
    # given a persona of Listed and Gold, Gold archived (it keeps narrowing the persona)
    listed, gold = await _site(api)
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], listed)
    await attach(api, admin["id"], gold)
    archived = (await api.query(ARCHIVE_SEGMENT, {"id": gold}))["archiveSegment"]
    assert archived["userErrors"] == []

    # when it is deleted, then it is refused and the persona is unchanged
    assert [e["code"] for e in (await _delete(api, gold))["userErrors"]] == ["CONFLICT"]
    assert await member_ids(api, admin["id"]) == (2, ["m2", "m3"])


async def test_once_detached_from_every_persona_the_segment_can_be_deleted(api: Api) -> None:
    # given Gold in the personas Admin (with Listed) and Buyer
    listed, gold = await _site(api)
    admin, buyer = await persona(api, "Admin"), await persona(api, "Buyer")
    await attach(api, admin["id"], listed)
    await attach(api, admin["id"], gold)
    await attach(api, buyer["id"], gold)

    # when it is detached from Admin only, the delete is still refused (naming Buyer only)
    await api.query(DETACH, {"persona": admin["id"], "segment": gold})
    [error] = (await _delete(api, gold))["userErrors"]
    assert "persona 'Buyer' uses it" in error["message"]

    # and once detached from Buyer too, it is deleted
    await api.query(DETACH, {"persona": buyer["id"], "segment": gold})
    payload = await _delete(api, gold)
    assert payload == {"deletedId": gold, "userErrors": []}
    # Admin's members are those of Listed, as its owner chose by detaching Gold
    assert await member_ids(api, admin["id"]) == (3, ["m1", "m2", "m3"])
