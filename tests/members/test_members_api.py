"""Members over GraphQL: upsert with attribute merging, all-or-nothing batches, lookups,
search and pagination, the company link, and deletion."""

from __future__ import annotations

from typing import Any

import pytest

from app.settings import get_settings
from tests.factories import Api, companies, members, segment

UPSERT_MEMBERS = """
mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { field message code } }
}
"""

DELETE_MEMBERS = """
mutation($ids: [ID!]!) {
  deleteMembers(ids: $ids) { deleted unknownIds userErrors { field message code } }
}
"""

MEMBER = """
query($id: ID!) {
  member(id: $id) { id email name attributes createdAt updatedAt company { id name } }
}
"""

MEMBERS = """
query($search: String, $first: Int, $after: String) {
  members(search: $search, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id email name } }
  }
}
"""

SEGMENT_COUNT = """
query($id: ID!) { segment(id: $id) { memberCount members { edges { node { id } } } } }
"""


async def _upsert(api: Api, *rows: dict[str, Any]) -> dict[str, Any]:
    data = await api.query(UPSERT_MEMBERS, {"members": list(rows)})
    payload: dict[str, Any] = data["upsertMembers"]
    return payload


async def _member(api: Api, member_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(MEMBER, {"id": member_id}))["member"]
    return found


async def _all_ids(api: Api) -> list[str]:
    data = await api.query(MEMBERS, {"first": 500})
    return [e["node"]["id"] for e in data["members"]["edges"]]


# ------------------------------------------------------------------ upsert


async def test_upsert_creates_members_then_updates_them(api: Api) -> None:
    # given no members
    # when two members are upserted
    created = await _upsert(
        api,
        {"id": "u1", "email": "ann@example.com", "name": "Ann", "attributes": {"tier": "gold"}},
        {"id": "u2"},
    )

    # then both are created and readable by id
    assert created == {"created": 2, "updated": 0, "userErrors": []}
    ann = await _member(api, "u1")
    assert ann is not None
    assert (ann["email"], ann["name"], ann["attributes"]) == (
        "ann@example.com",
        "Ann",
        {"tier": "gold"},
    )
    bare = await _member(api, "u2")
    assert bare is not None
    assert (bare["email"], bare["name"], bare["attributes"], bare["company"]) == (
        None,
        None,
        {},
        None,
    )

    # and when one of them is upserted again with one new member
    again = await _upsert(api, {"id": "u1", "name": "Ann B."}, {"id": "u3"})

    # then it counts one update and one creation, and there are three members
    assert again == {"created": 1, "updated": 1, "userErrors": []}
    assert await _all_ids(api) == ["u1", "u2", "u3"]


async def test_upsert_leaves_omitted_fields_and_clears_explicit_nulls(api: Api) -> None:
    # given a member with an email and a name
    await members(api, "u1", email="ann@example.com", name="Ann")

    # when only the name is sent, then the email is sent as null
    await _upsert(api, {"id": "u1", "name": "Annie"})
    after_name = await _member(api, "u1")
    await _upsert(api, {"id": "u1", "email": None})
    after_null = await _member(api, "u1")

    # then the omitted email stayed, and the explicit null cleared it (the name stayed)
    assert after_name is not None and after_null is not None
    assert (after_name["email"], after_name["name"]) == ("ann@example.com", "Annie")
    assert (after_null["email"], after_null["name"]) == (None, "Annie")


async def test_upsert_merges_attributes_and_a_null_value_removes_a_key(api: Api) -> None:
    # given a member with attributes
    await _upsert(api, {"id": "u1", "attributes": {"tier": "gold", "points": 10, "vip": True}})

    # when a patch changes one key, removes one with null and adds one
    await _upsert(api, {"id": "u1", "attributes": {"points": 20, "vip": None, "country": "NL"}})

    # then the stored attributes are the merge
    stored = await _member(api, "u1")
    assert stored is not None
    assert stored["attributes"] == {"tier": "gold", "points": 20, "country": "NL"}

    # and when attributes are omitted, they stay
    await _upsert(api, {"id": "u1", "name": "Ann"})
    again = await _member(api, "u1")
    assert again is not None and again["attributes"] == stored["attributes"]


async def test_attributes_keep_nested_values_and_types(api: Api) -> None:
    # given attributes of every JSON type
    attributes = {"n": 1.5, "i": 7, "b": False, "s": "x", "list": [1, "a"], "obj": {"k": [True]}}

    # when they are stored
    await _upsert(api, {"id": "u1", "attributes": attributes})

    # then they read back as sent
    stored = await _member(api, "u1")
    assert stored is not None and stored["attributes"] == attributes


async def test_the_same_id_twice_in_one_call_merges_in_order(api: Api) -> None:
    # when one call names the same member twice with different fields
    payload = await _upsert(
        api,
        {"id": "u1", "name": "First", "attributes": {"a": 1, "b": 1}},
        {"id": "u1", "email": "u1@example.com", "name": "Second", "attributes": {"b": 2}},
    )

    # then one member is created holding both, the later row winning
    assert payload == {"created": 1, "updated": 0, "userErrors": []}
    stored = await _member(api, "u1")
    assert stored is not None
    assert (stored["name"], stored["email"]) == ("Second", "u1@example.com")
    assert stored["attributes"] == {"a": 1, "b": 2}


async def test_upsert_trims_ids(api: Api) -> None:
    # when a member id is sent with surrounding spaces
    await _upsert(api, {"id": "  u1  "})

    # then it is stored trimmed
    assert await _all_ids(api) == ["u1"]


async def test_updated_at_moves_and_created_at_stays(api: Api) -> None:
    # given a member
    await members(api, "u1")
    before = await _member(api, "u1")

    # when it is updated
    await _upsert(api, {"id": "u1", "name": "New"})
    after = await _member(api, "u1")

    # then createdAt stayed and updatedAt did not go back
    assert before is not None and after is not None
    assert after["createdAt"] == before["createdAt"]
    assert after["updatedAt"] >= before["updatedAt"]


# ------------------------------------------------------------------ upsert: user errors


@pytest.mark.parametrize(
    "email", ["not-an-email", "a@b", "two@@example.com", "sp ace@example.com", "@example.com"]
)
async def test_bad_email_is_invalid_and_nothing_is_written(api: Api, email: str) -> None:
    # given an existing member
    await members(api, "u0", name="Before")

    # when a batch holds a good row, an update and a row with a bad email
    payload = await _upsert(
        api, {"id": "u1"}, {"id": "u0", "name": "After"}, {"id": "u2", "email": email}
    )

    # then the bad row is reported by its position, and nothing of the batch was written
    assert (payload["created"], payload["updated"]) == (0, 0)
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["members", "2", "email"])
    assert await _all_ids(api) == ["u0"]
    kept = await _member(api, "u0")
    assert kept is not None and kept["name"] == "Before"


@pytest.mark.parametrize("bad_id", ["", "   ", "x" * 256])
async def test_empty_or_over_long_id_is_invalid(api: Api, bad_id: str) -> None:
    # when a batch holds a good row and a row with a bad id
    payload = await _upsert(api, {"id": "ok"}, {"id": bad_id})

    # then it is refused on that row's id and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["members", "1", "id"])
    assert await _all_ids(api) == []


async def test_over_long_name_is_invalid(api: Api) -> None:
    # when a member name over 255 characters is sent
    payload = await _upsert(api, {"id": "u1", "name": "n" * 256})

    # then it is refused and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["members", "0", "name"])
    assert await _all_ids(api) == []


@pytest.mark.parametrize("attributes", [[1, 2], "text", 5])
async def test_attributes_that_are_not_an_object_are_invalid(api: Api, attributes: Any) -> None:
    # when attributes are not a JSON object
    payload = await _upsert(api, {"id": "u1", "attributes": attributes})

    # then it is refused and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["members", "0", "attributes"])
    assert await _all_ids(api) == []


async def test_unknown_company_id_is_not_found_and_nothing_is_written(api: Api) -> None:
    # given company acme
    await companies(api, "acme")

    # when a batch links one member to acme and another to an unknown company
    payload = await _upsert(api, {"id": "u1", "companyId": "acme"}, {"id": "u2", "companyId": "x"})

    # then the unknown company is reported on its row and no member is written
    assert (payload["created"], payload["updated"]) == (0, 0)
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", ["members", "1", "companyId"])
    assert "'x'" in error["message"]
    assert await _all_ids(api) == []


async def test_too_many_members_in_one_call_is_too_large(api: Api) -> None:
    limit = get_settings().max_upsert_batch

    # when one more member than the limit is sent
    payload = await _upsert(api, *({"id": f"u{i}"} for i in range(limit + 1)))

    # then it is refused with a message naming the limit, and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LARGE", ["members"])
    assert str(limit) in error["message"]
    assert (await api.query(MEMBERS, {"first": 1}))["members"]["totalCount"] == 0


async def test_exactly_the_limit_of_members_is_written(api: Api) -> None:
    limit = get_settings().max_upsert_batch

    # when exactly the limit of members is sent
    payload = await _upsert(api, *({"id": f"u{i:05}"} for i in range(limit)))

    # then all of them are created
    assert payload == {"created": limit, "updated": 0, "userErrors": []}
    assert (await api.query(MEMBERS, {"first": 1}))["members"]["totalCount"] == limit


# ------------------------------------------------------------------ company link


async def test_member_company_links_and_unlinks(api: Api) -> None:
    # given companies acme and initech
    await companies(api, "acme", name="Acme Inc.")
    await companies(api, "initech", name="Initech")

    # when a member is linked to acme, then moved to initech, then unlinked with null
    await _upsert(api, {"id": "u1", "companyId": "acme"})
    linked = await _member(api, "u1")
    await _upsert(api, {"id": "u1", "companyId": "initech"})
    moved = await _member(api, "u1")
    await _upsert(api, {"id": "u1", "name": "kept link"})
    kept = await _member(api, "u1")
    await _upsert(api, {"id": "u1", "companyId": None})
    unlinked = await _member(api, "u1")

    # then Member.company follows each step, and an omitted companyId keeps the link
    assert linked is not None and moved is not None and kept is not None and unlinked is not None
    assert linked["company"] == {"id": "acme", "name": "Acme Inc."}
    assert moved["company"] == {"id": "initech", "name": "Initech"}
    assert kept["company"] == {"id": "initech", "name": "Initech"}
    assert unlinked["company"] is None


async def test_members_listing_resolves_each_company(api: Api) -> None:
    # given members of two companies and one without
    await companies(api, "acme", "initech")
    await members(api, "a1", "a2", companyId="acme")
    await members(api, "i1", companyId="initech")
    await members(api, "solo")

    # when members are listed with their company
    data = await api.query("query { members { edges { node { id company { id } } } } }")

    # then each has its own company
    got = {e["node"]["id"]: e["node"]["company"] for e in data["members"]["edges"]}
    assert got == {
        "a1": {"id": "acme"},
        "a2": {"id": "acme"},
        "i1": {"id": "initech"},
        "solo": None,
    }


# ------------------------------------------------------------------ lookups and listing


@pytest.mark.parametrize("unknown", ["nobody", "U1", "u1 "])
async def test_member_with_an_unknown_id_is_null(api: Api, unknown: str) -> None:
    # given member u1
    await members(api, "u1")

    # when another id is asked for (ids are exact)
    # then the answer is null
    assert await _member(api, unknown) is None


async def test_members_are_listed_in_id_order_over_pages(api: Api) -> None:
    # given seven members created out of order
    ids = ["m5", "m2", "m7", "m1", "m4", "m6", "m3"]
    await members(api, *ids)

    # when every page is read with first=2
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        data = (await api.query(MEMBERS, {"first": 2, "after": after}))["members"]
        pages.append(data)
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]

    # then every member comes once, in id order, with the right pageInfo and totalCount
    seen = [e["node"]["id"] for p in pages for e in p["edges"]]
    assert seen == sorted(ids)
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True, True]
    assert {p["totalCount"] for p in pages} == {7}


async def test_search_matches_id_email_and_name_ignoring_case(api: Api) -> None:
    # given members matching "smith" by id, by email and by name, and one that does not
    await members(api, "smith-1")
    await members(api, "u2", email="J.Smith@example.com")
    await members(api, "u3", name="Anna SMITHSON")
    await members(api, "u4", name="Bob", email="bob@example.com")

    # when members are searched for "Smith"
    data = await api.query(MEMBERS, {"search": "Smith"})

    # then the three matches come, counted, in id order
    assert [e["node"]["id"] for e in data["members"]["edges"]] == ["smith-1", "u2", "u3"]
    assert data["members"]["totalCount"] == 3


async def test_search_with_pagination_walks_only_the_matches(api: Api) -> None:
    # given five matching members and three others
    await members(api, "vip-1", "vip-2", "vip-3", "vip-4", "vip-5", "a", "b", "z")

    # when the matches are read two at a time
    seen: list[str] = []
    after = None
    while True:
        data = (await api.query(MEMBERS, {"search": "vip", "first": 2, "after": after}))["members"]
        assert data["totalCount"] == 5
        seen += [e["node"]["id"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]

    # then each match comes once, in order
    assert seen == ["vip-1", "vip-2", "vip-3", "vip-4", "vip-5"]


async def test_members_page_size_over_the_limit_is_too_large(api: Api) -> None:
    limit = get_settings().max_page_size

    # when more than the limit is asked for
    body = await api.raw(MEMBERS, {"first": limit + 1})

    # then a GraphQL error names the limit
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TOO_LARGE"
    assert str(limit) in error["message"]


# ------------------------------------------------------------------ delete


async def test_delete_members_reports_deleted_and_unknown(api: Api) -> None:
    # given members u1, u2 and u3
    await members(api, "u1", "u2", "u3")

    # when u1, u3 and two unknown ids are deleted (u1 named twice)
    data = await api.query(DELETE_MEMBERS, {"ids": ["u1", "ghost", "u3", "u1", "phantom"]})

    # then two are deleted, the unknown ids are reported in order, and only u2 is left
    assert data["deleteMembers"] == {
        "deleted": 2,
        "unknownIds": ["ghost", "phantom"],
        "userErrors": [],
    }
    assert await _all_ids(api) == ["u2"]
    assert await _member(api, "u1") is None


async def test_delete_members_removes_their_listings(api: Api) -> None:
    # given a segment listing u1 and u2
    await members(api, "u1", "u2")
    listed = await segment(api, "Listed", memberIds=["u1", "u2"])

    # when u1 is deleted
    await api.query(DELETE_MEMBERS, {"ids": ["u1"]})

    # then the segment has one member left
    data = await api.query(SEGMENT_COUNT, {"id": listed["id"]})
    assert data["segment"]["memberCount"] == 1
    assert [e["node"]["id"] for e in data["segment"]["members"]["edges"]] == ["u2"]


async def test_a_deleted_member_can_be_created_again_without_its_old_data(api: Api) -> None:
    # given a deleted member that had attributes
    await _upsert(api, {"id": "u1", "attributes": {"old": True}, "name": "Old"})
    await api.query(DELETE_MEMBERS, {"ids": ["u1"]})

    # when the same id is upserted again
    payload = await _upsert(api, {"id": "u1"})

    # then it is a new member with nothing of the old one
    assert payload["created"] == 1
    fresh = await _member(api, "u1")
    assert fresh is not None
    assert (fresh["name"], fresh["attributes"]) == (None, {})


async def test_too_many_ids_to_delete_is_too_large(api: Api) -> None:
    limit = get_settings().max_bulk_ids

    # given a member
    await members(api, "u1")

    # when one more id than the limit is sent for deletion
    data = await api.query(DELETE_MEMBERS, {"ids": ["u1"] + [f"x{i}" for i in range(limit)]})

    # then it is refused naming the limit, and nothing is deleted
    payload = data["deleteMembers"]
    assert payload["deleted"] == 0
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LARGE", ["ids"])
    assert str(limit) in error["message"]
    assert await _all_ids(api) == ["u1"]
