"""Tenancy: a site's key sees and touches only its own site's data. Another site's id is
answered exactly as an id that does not exist."""

from __future__ import annotations

from typing import Any

from tests.factories import Api, companies, members, segment

SEGMENT = """
query($id: ID!) { segment(id: $id) { id name } }
"""

SEGMENT_BY_NAME = """
query($name: String!) { segmentByName(name: $name) { id name } }
"""

LISTINGS = """
query($search: String) {
  segments(search: $search) { totalCount edges { node { id name } } }
  members(search: $search) { totalCount edges { node { id } } }
  companies(search: $search) { totalCount edges { node { id } } }
}
"""

MEMBER_AND_COMPANY = """
query($member: ID!, $company: ID!) {
  member(id: $member) { id name company { id } }
  company(id: $company) { id name memberCount }
}
"""

UPDATE_SEGMENT = """
mutation($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { id } userErrors { field message code } }
}
"""

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { field message code } } }
"""

CREATE_SEGMENT = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id memberCount } userErrors { field code } }
}
"""

UPSERT_MEMBERS = """
mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { field code } }
}
"""

DELETE_MEMBERS = """
mutation($ids: [ID!]!) { deleteMembers(ids: $ids) { deleted unknownIds userErrors { code } } }
"""

SEGMENT_DETAILS = """
query($id: ID!) {
  segment(id: $id) {
    name description memberCount companyCount
    members { totalCount edges { node { id name } } }
    companies { totalCount edges { node { id } } }
    events { totalCount }
  }
}
"""

API_KEYS = "query { apiKeys { id name } }"

REVOKE_API_KEY = """
mutation($id: ID!) { revokeApiKey(id: $id) { deletedId userErrors { field code } } }
"""


async def _acme_with_data(api: Api) -> dict[str, Any]:
    """Site acme: a company, two members and a segment listing both."""
    await companies(api, "acme-co", name="Acme Co")
    await members(api, "alice", "bob", name="Acme person", companyId="acme-co")
    return await segment(api, "Acme VIP", memberIds=["alice", "bob"], companyIds=["acme-co"])


def _without_message(errors: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    return [(e["code"], e["field"]) for e in errors]


async def test_another_sites_segment_id_is_null_like_an_unknown_id(
    api: Api, other_api: Api
) -> None:
    # given a segment of acme
    acme_segment = await _acme_with_data(api)

    # when globex asks for it by id, and for an id that names no segment at all
    theirs = await other_api.raw(SEGMENT, {"id": acme_segment["id"]})
    unknown = await other_api.raw(SEGMENT, {"id": str(int(acme_segment["id"]) + 1000)})

    # then both answers are the same: null, with no error
    assert "errors" not in theirs and "errors" not in unknown
    assert theirs["data"] == unknown["data"] == {"segment": None}


async def test_another_sites_segment_name_is_null(api: Api, other_api: Api) -> None:
    # given a segment of acme
    await _acme_with_data(api)

    # when globex asks for it by name
    data = await other_api.query(SEGMENT_BY_NAME, {"name": "Acme VIP"})

    # then it is not found
    assert data == {"segmentByName": None}


async def test_listings_and_searches_show_only_the_callers_site(api: Api, other_api: Api) -> None:
    # given acme's data and a little of globex's own
    await _acme_with_data(api)
    await companies(other_api, "globex-co")
    await members(other_api, "gina")
    await segment(other_api, "Globex list")

    # when globex lists everything, then searches for acme's names
    everything = await other_api.query(LISTINGS, {"search": None})
    searched = await other_api.query(LISTINGS, {"search": "acme"})

    # then it sees only its own rows, and counts only them
    assert [e["node"]["name"] for e in everything["segments"]["edges"]] == ["Globex list"]
    assert [e["node"]["id"] for e in everything["members"]["edges"]] == ["gina"]
    assert [e["node"]["id"] for e in everything["companies"]["edges"]] == ["globex-co"]
    assert [everything[k]["totalCount"] for k in ("segments", "members", "companies")] == [1, 1, 1]
    assert [searched[k]["totalCount"] for k in ("segments", "members", "companies")] == [0, 0, 0]
    # and acme still sees its own, unaffected
    mine = await api.query(LISTINGS, {"search": None})
    assert [mine[k]["totalCount"] for k in ("segments", "members", "companies")] == [1, 2, 1]


async def test_another_sites_member_and_company_are_null(api: Api, other_api: Api) -> None:
    # given acme's member alice and company acme-co
    await _acme_with_data(api)

    # when globex asks for them by id
    data = await other_api.query(MEMBER_AND_COMPANY, {"member": "alice", "company": "acme-co"})

    # then both are null
    assert data == {"member": None, "company": None}


async def test_the_same_ids_on_two_sites_are_two_separate_rows(api: Api, other_api: Api) -> None:
    # given acme's member alice of company acme-co
    await _acme_with_data(api)

    # when globex makes its own alice, acme-co and "Acme VIP" with other values
    await companies(other_api, "acme-co", name="Globex's acme-co")
    await members(other_api, "alice", name="Globex alice")
    theirs = await segment(other_api, "Acme VIP")

    # then each site reads its own, and acme's are unchanged
    acme = await api.query(MEMBER_AND_COMPANY, {"member": "alice", "company": "acme-co"})
    globex = await other_api.query(MEMBER_AND_COMPANY, {"member": "alice", "company": "acme-co"})
    assert acme == {
        "member": {"id": "alice", "name": "Acme person", "company": {"id": "acme-co"}},
        "company": {"id": "acme-co", "name": "Acme Co", "memberCount": 2},
    }
    assert globex == {
        "member": {"id": "alice", "name": "Globex alice", "company": None},
        "company": {"id": "acme-co", "name": "Globex's acme-co", "memberCount": 0},
    }
    assert theirs["memberCount"] == 0
    by_name = await other_api.query(SEGMENT_BY_NAME, {"name": "Acme VIP"})
    assert by_name["segmentByName"]["id"] == theirs["id"]


async def test_another_sites_segment_cannot_be_updated_or_deleted(api: Api, other_api: Api) -> None:
    # given acme's segment and its state
    acme_segment = await _acme_with_data(api)
    before = await api.query(SEGMENT_DETAILS, {"id": acme_segment["id"]})
    unknown_id = str(int(acme_segment["id"]) + 1000)

    # when globex tries to update and delete it, and an id that names nothing
    update = await other_api.query(
        UPDATE_SEGMENT, {"id": acme_segment["id"], "input": {"name": "Hijacked"}}
    )
    update_unknown = await other_api.query(
        UPDATE_SEGMENT, {"id": unknown_id, "input": {"name": "Hijacked"}}
    )
    delete = await other_api.query(DELETE_SEGMENT, {"id": acme_segment["id"]})
    delete_unknown = await other_api.query(DELETE_SEGMENT, {"id": unknown_id})

    # then each is NOT_FOUND, exactly as for the id that names nothing
    assert _without_message(update["updateSegment"]["userErrors"]) == [("NOT_FOUND", ["id"])]
    assert _without_message(update_unknown["updateSegment"]["userErrors"]) == [
        ("NOT_FOUND", ["id"])
    ]
    assert _without_message(delete["deleteSegment"]["userErrors"]) == [("NOT_FOUND", ["id"])]
    assert delete["deleteSegment"]["deletedId"] is None
    assert _without_message(delete_unknown["deleteSegment"]["userErrors"]) == [
        ("NOT_FOUND", ["id"])
    ]
    # and the messages differ only by the id they repeat
    own_message = update["updateSegment"]["userErrors"][0]["message"]
    unknown_message = update_unknown["updateSegment"]["userErrors"][0]["message"]
    assert own_message.replace(acme_segment["id"], "ID") == unknown_message.replace(
        unknown_id, "ID"
    )
    # and acme's segment, its lists and its trail are untouched
    assert await api.query(SEGMENT_DETAILS, {"id": acme_segment["id"]}) == before
    assert (await other_api.query(LISTINGS, {"search": None}))["segments"]["totalCount"] == 0


async def test_another_sites_members_and_companies_cannot_be_listed_in_a_segment(
    api: Api, other_api: Api
) -> None:
    # given acme's members and company
    await _acme_with_data(api)

    # when globex creates segments naming them
    with_members = await other_api.query(
        CREATE_SEGMENT, {"input": {"name": "Steal", "memberIds": ["alice"]}}
    )
    with_company = await other_api.query(
        CREATE_SEGMENT, {"input": {"name": "Steal", "companyIds": ["acme-co"]}}
    )

    # then they are unknown to globex, and nothing is created
    assert _without_message(with_members["createSegment"]["userErrors"]) == [
        ("NOT_FOUND", ["input", "memberIds"])
    ]
    assert _without_message(with_company["createSegment"]["userErrors"]) == [
        ("NOT_FOUND", ["input", "companyIds"])
    ]
    assert (await other_api.query(LISTINGS, {"search": None}))["segments"]["totalCount"] == 0


async def test_another_sites_company_cannot_be_linked(api: Api, other_api: Api) -> None:
    # given acme's company
    await _acme_with_data(api)

    # when globex links its member to it
    data = await other_api.query(UPSERT_MEMBERS, {"members": [{"id": "g", "companyId": "acme-co"}]})

    # then the company is not found and nothing is written; acme's company keeps its members
    assert _without_message(data["upsertMembers"]["userErrors"]) == [
        ("NOT_FOUND", ["members", "0", "companyId"])
    ]
    assert (await other_api.query(LISTINGS, {"search": None}))["members"]["totalCount"] == 0
    acme = await api.query(MEMBER_AND_COMPANY, {"member": "alice", "company": "acme-co"})
    assert acme["company"]["memberCount"] == 2


async def test_another_sites_members_cannot_be_deleted(api: Api, other_api: Api) -> None:
    # given acme's members in acme's segment
    acme_segment = await _acme_with_data(api)

    # when globex deletes their ids
    data = await other_api.query(DELETE_MEMBERS, {"ids": ["alice", "bob"]})

    # then they are unknown to globex, and acme still has them, listed
    assert data["deleteMembers"] == {
        "deleted": 0,
        "unknownIds": ["alice", "bob"],
        "userErrors": [],
    }
    details = await api.query(SEGMENT_DETAILS, {"id": acme_segment["id"]})
    assert details["segment"]["memberCount"] == 2


async def test_upserting_the_same_ids_on_another_site_changes_nothing_here(
    api: Api, other_api: Api
) -> None:
    # given acme's member alice
    await _acme_with_data(api)

    # when globex upserts alice with other values
    data = await other_api.query(
        UPSERT_MEMBERS, {"members": [{"id": "alice", "name": "Not acme's"}]}
    )

    # then for globex it is a creation, and acme's alice is unchanged
    assert (data["upsertMembers"]["created"], data["upsertMembers"]["updated"]) == (1, 0)
    acme = await api.query(MEMBER_AND_COMPANY, {"member": "alice", "company": "acme-co"})
    assert acme["member"]["name"] == "Acme person"


async def test_keys_are_per_site(api: Api, other_api: Api) -> None:
    # given each site's ADMIN key
    acme_keys = (await api.query(API_KEYS))["apiKeys"]
    globex_keys = (await other_api.query(API_KEYS))["apiKeys"]

    # when globex revokes acme's key by id
    data = await other_api.query(REVOKE_API_KEY, {"id": acme_keys[0]["id"]})

    # then each site lists only its own key, the revocation is NOT_FOUND and acme's key works
    assert len(acme_keys) == len(globex_keys) == 1
    assert acme_keys[0]["id"] != globex_keys[0]["id"]
    assert _without_message(data["revokeApiKey"]["userErrors"]) == [("NOT_FOUND", ["id"])]
    viewer = await api.query("query { viewer { siteName } }")
    assert viewer == {"viewer": {"siteName": "Acme"}}
