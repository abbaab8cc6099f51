"""Companies over GraphQL: upsert with attribute merging, all-or-nothing batches, lookups,
search and pagination, and their members."""

from __future__ import annotations

from typing import Any

import pytest

from app.settings import get_settings
from tests.factories import Api, companies, members

UPSERT_COMPANIES = """
mutation($companies: [CompanyInput!]!) {
  upsertCompanies(companies: $companies) { created updated userErrors { field message code } }
}
"""

COMPANY = """
query($id: ID!) {
  company(id: $id) { id name plan attributes createdAt updatedAt memberCount }
}
"""

COMPANIES = """
query($search: String, $first: Int, $after: String) {
  companies(search: $search, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name } }
  }
}
"""

COMPANY_MEMBERS = """
query($id: ID!, $first: Int, $after: String) {
  company(id: $id) {
    memberCount
    members(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id company { id } } }
    }
  }
}
"""


async def _upsert(api: Api, *rows: dict[str, Any]) -> dict[str, Any]:
    data = await api.query(UPSERT_COMPANIES, {"companies": list(rows)})
    payload: dict[str, Any] = data["upsertCompanies"]
    return payload


async def _company(api: Api, company_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(COMPANY, {"id": company_id}))["company"]
    return found


async def _all_ids(api: Api) -> list[str]:
    data = await api.query(COMPANIES, {"first": 500})
    return [e["node"]["id"] for e in data["companies"]["edges"]]


async def _walk(api: Api, query: str, path: list[str], **args: Any) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        data: Any = await api.query(query, {**args, "first": 2, "after": after})
        for key in path:
            data = data[key]
        pages.append(data)
        if not data["pageInfo"]["hasNextPage"]:
            return pages
        after = data["pageInfo"]["endCursor"]
        assert len(pages) < 50, "pagination does not end"


# ------------------------------------------------------------------ upsert


async def test_upsert_creates_companies_then_updates_them(api: Api) -> None:
    # when two companies are upserted
    created = await _upsert(
        api,
        {"id": "acme", "name": "Acme", "plan": "pro", "attributes": {"seats": 50}},
        {"id": "initech", "name": "Initech"},
    )

    # then both are created, with what was sent
    assert created == {"created": 2, "updated": 0, "userErrors": []}
    acme = await _company(api, "acme")
    assert acme is not None
    assert (acme["name"], acme["plan"], acme["attributes"], acme["memberCount"]) == (
        "Acme",
        "pro",
        {"seats": 50},
        0,
    )
    initech = await _company(api, "initech")
    assert initech is not None
    assert (initech["plan"], initech["attributes"]) == (None, {})

    # and when one is upserted again with a new one
    again = await _upsert(api, {"id": "acme", "name": "Acme Corp"}, {"id": "globex", "name": "G"})

    # then one update and one creation are counted
    assert again == {"created": 1, "updated": 1, "userErrors": []}
    renamed = await _company(api, "acme")
    assert renamed is not None and renamed["name"] == "Acme Corp"
    assert await _all_ids(api) == ["acme", "globex", "initech"]


async def test_plan_omitted_stays_and_null_clears(api: Api) -> None:
    # given a company on the pro plan
    await _upsert(api, {"id": "acme", "name": "Acme", "plan": "pro"})

    # when it is upserted without a plan, then with plan null
    await _upsert(api, {"id": "acme", "name": "Acme"})
    kept = await _company(api, "acme")
    await _upsert(api, {"id": "acme", "name": "Acme", "plan": None})
    cleared = await _company(api, "acme")

    # then the omitted plan stayed and the null cleared it
    assert kept is not None and kept["plan"] == "pro"
    assert cleared is not None and cleared["plan"] is None


async def test_attributes_merge_and_a_null_value_removes_a_key(api: Api) -> None:
    # given a company with attributes
    await _upsert(api, {"id": "acme", "name": "Acme", "attributes": {"seats": 5, "region": "EU"}})

    # when a patch changes one key, removes another and adds a third
    await _upsert(
        api,
        {"id": "acme", "name": "Acme", "attributes": {"seats": 9, "region": None, "tier": 1}},
    )

    # then the stored attributes are the merge
    merged = await _company(api, "acme")
    assert merged is not None and merged["attributes"] == {"seats": 9, "tier": 1}

    # and omitting attributes keeps them
    await _upsert(api, {"id": "acme", "name": "Acme"})
    kept = await _company(api, "acme")
    assert kept is not None and kept["attributes"] == {"seats": 9, "tier": 1}


async def test_the_same_id_twice_in_one_call_merges_in_order(api: Api) -> None:
    # when one call names the same company twice
    payload = await _upsert(
        api,
        {"id": "acme", "name": "First", "plan": "free", "attributes": {"a": 1, "b": 1}},
        {"id": "acme", "name": "Second", "attributes": {"b": 2}},
    )

    # then one company is created, the later row winning and the earlier plan kept
    assert payload == {"created": 1, "updated": 0, "userErrors": []}
    stored = await _company(api, "acme")
    assert stored is not None
    assert (stored["name"], stored["plan"], stored["attributes"]) == (
        "Second",
        "free",
        {"a": 1, "b": 2},
    )


# ------------------------------------------------------------------ upsert: user errors


@pytest.mark.parametrize("name", ["", "  ", "n" * 256])
async def test_empty_or_over_long_name_is_invalid_and_nothing_is_written(
    api: Api, name: str
) -> None:
    # given an existing company
    await _upsert(api, {"id": "acme", "name": "Acme"})

    # when a batch updates it and adds a company with a bad name
    payload = await _upsert(api, {"id": "acme", "name": "Changed"}, {"id": "bad", "name": name})

    # then the bad row is reported, and neither row was written
    assert (payload["created"], payload["updated"]) == (0, 0)
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["companies", "1", "name"])
    assert await _all_ids(api) == ["acme"]
    kept = await _company(api, "acme")
    assert kept is not None and kept["name"] == "Acme"


@pytest.mark.parametrize("bad_id", ["", "x" * 256])
async def test_empty_or_over_long_id_is_invalid(api: Api, bad_id: str) -> None:
    # when a company id is empty or too long
    payload = await _upsert(api, {"id": "ok", "name": "Ok"}, {"id": bad_id, "name": "Bad"})

    # then it is refused on that row's id and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["companies", "1", "id"])
    assert await _all_ids(api) == []


async def test_over_long_plan_and_non_object_attributes_are_invalid(api: Api) -> None:
    # when a plan is too long, or attributes are not an object
    long_plan = await _upsert(api, {"id": "a", "name": "A", "plan": "p" * 101})
    bad_attrs = await _upsert(api, {"id": "a", "name": "A", "attributes": ["x"]})

    # then each is refused on its field and nothing is written
    assert [(e["code"], e["field"]) for e in long_plan["userErrors"]] == [
        ("INVALID", ["companies", "0", "plan"])
    ]
    assert [(e["code"], e["field"]) for e in bad_attrs["userErrors"]] == [
        ("INVALID", ["companies", "0", "attributes"])
    ]
    assert await _all_ids(api) == []


async def test_too_many_companies_in_one_call_is_too_large(api: Api) -> None:
    limit = get_settings().max_upsert_batch

    # when one more company than the limit is sent
    payload = await _upsert(api, *({"id": f"c{i}", "name": "C"} for i in range(limit + 1)))

    # then it is refused naming the limit and nothing is written
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LARGE", ["companies"])
    assert str(limit) in error["message"]
    assert await _all_ids(api) == []


# ------------------------------------------------------------------ lookups and listing


async def test_company_with_an_unknown_id_is_null(api: Api) -> None:
    # given company acme
    await _upsert(api, {"id": "acme", "name": "Acme"})

    # when other ids are asked for
    data = await api.query('query { a: company(id: "ACME") { id } b: company(id: "x") { id } }')

    # then each is null
    assert data == {"a": None, "b": None}


async def test_companies_are_listed_in_id_order_over_pages(api: Api) -> None:
    # given five companies created out of order
    ids = ["c3", "c5", "c1", "c4", "c2"]
    await companies(api, *ids)

    # when every page is read with first=2
    pages = await _walk(api, COMPANIES, ["companies"])

    # then each company comes once, in id order, with pageInfo and totalCount right
    assert [e["node"]["id"] for p in pages for e in p["edges"]] == sorted(ids)
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True]
    assert {p["totalCount"] for p in pages} == {5}


async def test_search_matches_id_and_name_ignoring_case(api: Api) -> None:
    # given companies matching "tech" by id and by name, and one that does not
    await _upsert(
        api,
        {"id": "tech-1", "name": "One"},
        {"id": "c2", "name": "Initech"},
        {"id": "c3", "name": "TECHNO Ltd"},
        {"id": "c4", "name": "Acme", "plan": "tech"},
    )

    # when searched for "Tech"
    data = await api.query(COMPANIES, {"search": "Tech"})

    # then the three matches come in id order, counted (the plan is not searched)
    assert [e["node"]["id"] for e in data["companies"]["edges"]] == ["c2", "c3", "tech-1"]
    assert data["companies"]["totalCount"] == 3


async def test_companies_page_size_over_the_limit_is_too_large(api: Api) -> None:
    limit = get_settings().max_page_size

    # when more than the limit is asked for
    body = await api.raw(COMPANIES, {"first": limit + 1})

    # then a GraphQL error names the limit
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TOO_LARGE"
    assert str(limit) in error["message"]


# ------------------------------------------------------------------ members of a company


async def test_company_members_and_member_count(api: Api) -> None:
    # given five members of acme, one of initech and one without a company
    await companies(api, "acme", "initech")
    await members(api, "a5", "a3", "a1", "a4", "a2", companyId="acme")
    await members(api, "i1", companyId="initech")
    await members(api, "solo")

    # when acme's members are read page by page
    pages = await _walk(api, COMPANY_MEMBERS, ["company", "members"], id="acme")

    # then exactly its five members come, once each, in id order, and are counted
    seen = [e["node"]["id"] for p in pages for e in p["edges"]]
    assert seen == ["a1", "a2", "a3", "a4", "a5"]
    assert {e["node"]["company"]["id"] for p in pages for e in p["edges"]} == {"acme"}
    assert {p["totalCount"] for p in pages} == {5}
    counts = await api.query(
        'query { a: company(id: "acme") { memberCount } i: company(id: "initech") { memberCount } }'
    )
    assert counts == {"a": {"memberCount": 5}, "i": {"memberCount": 1}}


async def test_member_count_follows_members_moving_away(api: Api) -> None:
    # given two members of acme
    await companies(api, "acme")
    await members(api, "u1", "u2", companyId="acme")

    # when one of them leaves the company
    await members(api, "u1", companyId=None)

    # then acme counts and lists one member
    data = await api.query(COMPANY_MEMBERS, {"id": "acme"})
    assert data["company"]["memberCount"] == 1
    assert [e["node"]["id"] for e in data["company"]["members"]["edges"]] == ["u2"]


async def test_companies_listing_counts_members_of_each(api: Api) -> None:
    # given companies with 0, 1 and 3 members
    await companies(api, "c0", "c1", "c3")
    await members(api, "x", companyId="c1")
    await members(api, "y1", "y2", "y3", companyId="c3")

    # when companies are listed with their member counts
    data = await api.query("query { companies { edges { node { id memberCount } } } }")

    # then each count is its own
    got = {e["node"]["id"]: e["node"]["memberCount"] for e in data["companies"]["edges"]}
    assert got == {"c0": 0, "c1": 1, "c3": 3}
