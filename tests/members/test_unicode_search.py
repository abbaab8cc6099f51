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
