"""The listings' text search (members, companies, segments) ignores case in every script, on
SQLite as on PostgreSQL (SQLite's own lower() and upper() change ASCII letters only)."""

from __future__ import annotations

import pytest

from tests.factories import Api, companies, members, segment

LISTINGS = """
query($search: String) {
  members(search: $search, first: 10) { edges { node { id } } }
  companies(search: $search, first: 10) { edges { node { id } } }
  segments(search: $search, first: 10) { edges { node { name } } }
}
"""


async def listed(api: Api, search: str) -> tuple[list[str], list[str], list[str]]:
    data = await api.query(LISTINGS, {"search": search})
    return (
        [e["node"]["id"] for e in data["members"]["edges"]],
        [e["node"]["id"] for e in data["companies"]["edges"]],
        [e["node"]["name"] for e in data["segments"]["edges"]],
    )


@pytest.mark.parametrize("search", ["ærø", "ÆRØ"])
async def test_members_are_listed_by_non_ascii_letters_in_any_case(api: Api, search: str) -> None:
    await members(api, "m1", name="Zoë Ærø 日本")
    await members(api, "m2", name="Zoe Aero")
    assert (await listed(api, search))[0] == ["m1"]


@pytest.mark.parametrize("search", ["Ünï", "ünï"])
async def test_companies_are_listed_by_non_ascii_letters_in_any_case(api: Api, search: str) -> None:
    await companies(api, "c1", name="Ünïcode GmbH")
    await companies(api, "c2", name="Unicode Ltd")
    assert (await listed(api, search))[1] == ["c1"]


@pytest.mark.parametrize("search", ["ärger", "ÄRGER"])
async def test_segments_are_listed_by_non_ascii_letters_in_any_case(api: Api, search: str) -> None:
    await segment(api, "Ärger im Büro")
    await segment(api, "Arger")
    assert (await listed(api, search))[2] == ["Ärger im Büro"]


async def test_listing_search_keeps_like_wildcards_literal(api: Api) -> None:
    await members(api, "m1", name="Ä_%")
    await members(api, "m2", name="Äbc")
    assert (await listed(api, "ä_%"))[0] == ["m1"]


@pytest.mark.parametrize("kind", ["STATIC", "DYNAMIC"])
@pytest.mark.parametrize("search", ["ærø", "ÆRØ"])
async def test_a_segments_members_are_searched_by_non_ascii_letters_in_any_case(
    api: Api, search: str, kind: str
) -> None:
    # given a segment (listed, or by a rule) of two members, one with a non-ASCII name
    await members(api, "m1", name="Zoë Ærø 日本", attributes={"vip": True})
    await members(api, "m2", name="Zoe Aero", attributes={"vip": True})
    if kind == "DYNAMIC":
        seg = await segment(api, "S", type="DYNAMIC", rule="attributes.vip = true")
    else:
        seg = await segment(api, "S", memberIds=["m1", "m2"])
    # when its members are searched in either case, then only that member is found
    data = await api.query(
        "query($id: ID!, $q: String) { segment(id: $id) {"
        " members(search: $q, first: 10) { totalCount edges { node { id } } } } }",
        {"id": seg["id"], "q": search},
    )
    found = data["segment"]["members"]
    assert [e["node"]["id"] for e in found["edges"]] == ["m1"]
    assert found["totalCount"] == 1
