"""Pickers: searchMembers and searchCompanies (what matches, ranking, limits) and
resolveMembers and resolveCompanies (order, unknown ids), for the caller's site only."""

from __future__ import annotations

from typing import Any

import pytest

from app.settings import get_settings
from tests.factories import Api, companies, members

SEARCH_MEMBERS = """
query($q: String!, $limit: Int) { searchMembers(q: $q, limit: $limit) { id label description } }
"""
SEARCH_COMPANIES = """
query($q: String!, $limit: Int) { searchCompanies(q: $q, limit: $limit) { id label description } }
"""
RESOLVE_MEMBERS = "query($ids: [ID!]!) { resolveMembers(ids: $ids) { id label description } }"
RESOLVE_COMPANIES = "query($ids: [ID!]!) { resolveCompanies(ids: $ids) { id label description } }"
SEARCH_DEFAULT = "query($q: String!) { searchMembers(q: $q) { id } }"


async def search(api: Api, q: str, limit: int | None = None) -> list[str]:
    data = await api.query(SEARCH_MEMBERS, {"q": q, "limit": limit})
    return [o["id"] for o in data["searchMembers"]]


async def given_members(api: Api) -> None:
    await members(api, "ann", email="ann@example.com", name="Ann Smith")
    await members(api, "u2", email="joanna@example.com", name="Joanna")
    await members(api, "u3", name="Annabel")  # no email: labelled by name
    await members(api, "annex")  # no email, no name: labelled by id
    await members(api, "u5", email="bob@example.com", name="Bob Hanna")
    await members(api, "u6", email="zed@example.com", name="Zed")


async def test_member_options_are_labelled_by_email_then_name_then_id(api: Api) -> None:
    await given_members(api)
    data = await api.query(SEARCH_MEMBERS, {"q": "ann"})
    options = {o["id"]: (o["label"], o["description"]) for o in data["searchMembers"]}
    assert options["ann"] == ("ann@example.com", "Ann Smith")
    assert options["u3"] == ("Annabel", "Annabel")
    assert options["annex"] == ("annex", None)


async def test_search_ranks_exact_then_prefix_then_anywhere(api: Api) -> None:
    # given members matching "ann" exactly (the id), by prefix, and inside a word
    await given_members(api)
    # when searched, case-insensitively
    found = await search(api, "ANN")
    # then the exact match comes first, then prefix matches, then the rest, each by label
    assert found == ["ann", "u3", "annex", "u5", "u2"]
    # and a member matching nowhere is left out
    assert "u6" not in found


async def test_search_matches_email_name_and_id(api: Api) -> None:
    await given_members(api)
    assert await search(api, "zed@") == ["u6"]
    assert await search(api, "hanna") == ["u5"]
    assert await search(api, "u5") == ["u5"]
    assert await search(api, "nobody") == []


async def test_like_wildcards_in_the_query_match_themselves(api: Api) -> None:
    await members(api, "a_1", name="100% real")
    await members(api, "ab1", name="1000 real")
    assert await search(api, "a_") == ["a_1"]
    assert await search(api, "0%") == ["a_1"]


async def test_a_blank_query_finds_nothing(api: Api) -> None:
    await given_members(api)
    assert await search(api, "   ") == []


async def test_limit_defaults_to_50_and_is_capped(api: Api) -> None:
    # given more members than the cap, all matching
    cap = get_settings().max_picker_limit
    await members(api, *(f"m{i:04d}" for i in range(cap + 20)))
    # then no limit gives 50, a limit gives that many, and a limit over the cap gives the cap
    data = await api.query(SEARCH_DEFAULT, {"q": "m"})
    assert len(data["searchMembers"]) == 50
    assert len(await search(api, "m", 7)) == 7
    assert len(await search(api, "m", cap + 10)) == cap
    assert await search(api, "m", 0) == []


async def test_a_negative_limit_is_refused(api: Api) -> None:
    body = await api.raw(SEARCH_MEMBERS, {"q": "x", "limit": -1})
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


async def test_company_search_matches_name_and_id_labelled_by_name(api: Api) -> None:
    await companies(api, "acme", name="Acme Corp", plan="enterprise")
    await companies(api, "c2", name="Big Acme")
    await companies(api, "c3", name="Initech", plan="free")
    data = await api.query(SEARCH_COMPANIES, {"q": "acme"})
    assert data["searchCompanies"] == [
        {"id": "acme", "label": "Acme Corp", "description": "enterprise"},
        {"id": "c2", "label": "Big Acme", "description": None},
    ]
    data = await api.query(SEARCH_COMPANIES, {"q": "C3", "limit": 5})
    assert [o["id"] for o in data["searchCompanies"]] == ["c3"]


async def test_resolve_members_keeps_the_order_asked_and_leaves_out_unknown_ids(api: Api) -> None:
    await given_members(api)
    data = await api.query(RESOLVE_MEMBERS, {"ids": ["u6", "ghost", "ann", "u3", "u6"]})
    assert data["resolveMembers"] == [
        {"id": "u6", "label": "zed@example.com", "description": "Zed"},
        {"id": "ann", "label": "ann@example.com", "description": "Ann Smith"},
        {"id": "u3", "label": "Annabel", "description": "Annabel"},
    ]


async def test_resolve_companies_keeps_the_order_asked(api: Api) -> None:
    await companies(api, "c1", name="One", plan="pro")
    await companies(api, "c2", name="Two")
    data = await api.query(RESOLVE_COMPANIES, {"ids": ["c2", "nope", "c1"]})
    assert data["resolveCompanies"] == [
        {"id": "c2", "label": "Two", "description": None},
        {"id": "c1", "label": "One", "description": "pro"},
    ]


async def test_resolve_over_the_limit_is_refused(api: Api) -> None:
    cap = get_settings().max_page_size
    body = await api.raw(RESOLVE_MEMBERS, {"ids": [f"x{i}" for i in range(cap + 1)]})
    assert body["errors"][0]["extensions"]["code"] == "TOO_LARGE"
    assert str(cap) in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("query", "variables", "field"),
    [
        (SEARCH_MEMBERS, {"q": "ann"}, "searchMembers"),
        (RESOLVE_MEMBERS, {"ids": ["ann"]}, "resolveMembers"),
        (SEARCH_COMPANIES, {"q": "acme"}, "searchCompanies"),
        (RESOLVE_COMPANIES, {"ids": ["acme"]}, "resolveCompanies"),
    ],
)
async def test_another_sites_members_and_companies_are_not_found(
    api: Api, other_api: Api, query: str, variables: dict[str, Any], field: str
) -> None:
    await given_members(api)
    await companies(api, "acme", name="Acme")
    assert (await api.query(query, variables))[field] != []
    assert (await other_api.query(query, variables))[field] == []


async def test_pickers_need_a_key(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": SEARCH_DEFAULT, "variables": {"q": "a"}}
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
