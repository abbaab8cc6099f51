"""Picker search ignores case in every script, on SQLite as on PostgreSQL (SQLite's own
lower() changes ASCII letters only)."""

from __future__ import annotations

import pytest

from tests.factories import Api, companies, members

SEARCH = """
query($q: String!) {
  searchMembers(q: $q) { id }
  searchCompanies(q: $q) { id }
}
"""


async def found(api: Api, q: str) -> tuple[list[str], list[str]]:
    data = await api.query(SEARCH, {"q": q})
    return [o["id"] for o in data["searchMembers"]], [o["id"] for o in data["searchCompanies"]]


@pytest.mark.parametrize("q", ["Ünï", "ünï", "ÜNÏ", "nÏcODE g"])
async def test_companies_are_found_by_non_ascii_letters_in_any_case(api: Api, q: str) -> None:
    await companies(api, "c1", name="Ünïcode GmbH")
    await companies(api, "c2", name="Plain Ltd")
    assert (await found(api, q))[1] == ["c1"]


@pytest.mark.parametrize("q", ["ærø", "ÆRØ", "Ærø", "zoë ær", "日本"])
async def test_members_are_found_by_non_ascii_letters_in_any_case(api: Api, q: str) -> None:
    await members(api, "m1", name="Zoë Ærø 日本")
    await members(api, "m2", name="Zoe Aero")
    assert (await found(api, q))[0] == ["m1"]


async def test_a_non_ascii_exact_match_ranks_first(api: Api) -> None:
    await members(api, "m1", name="Ærø")
    await members(api, "m2", name="ærøskøbing")
    await members(api, "m3", name="Sydærø")
    assert (await found(api, "ÆRØ"))[0] == ["m1", "m2", "m3"]


async def test_like_wildcards_stay_literal(api: Api) -> None:
    await members(api, "m1", name="Ü_%x")
    await members(api, "m2", name="Üaax")
    assert (await found(api, "ü_%"))[0] == ["m1"]
