"""The pickers' statements on PostgreSQL read the indexes of migrations 0008 and 0010, and a
search of a common word (read group by group, walking the label index) answers exactly what
the one ranked and sorted statement answers. SQLite scans (this file is not collected)."""

from __future__ import annotations

from typing import Literal

import pytest
from tortoise.transactions import in_transaction

from app.db import execute, fetch
from app.pickers import service
from tests.factories import Api, companies, members


async def plan(text: str) -> str:
    """The plan of a statement, with sequential scans made a last resort (so that the answer
    does not hang on the planner's estimates for a small table)."""
    async with in_transaction() as conn:
        await conn.execute_script("SET LOCAL enable_seqscan = off")
        rows = await conn.execute_query_dict("EXPLAIN " + text)
    return "\n".join(str(r["QUERY PLAN"]) for r in rows)


async def given_many(api: Api) -> None:
    """Tens of thousands of members and companies, and the ones looked for."""
    await companies(api, "c1", name="Northwind Traders")
    await members(api, "ann", email="ann@example.com", name="Ann Smith")
    await execute(
        "INSERT INTO members (site_id, external_id, email, name, attributes, bucket,"
        " created_at, updated_at) SELECT $1, 'x' || i, 'x' || i || '@example.com', 'X ' || i,"
        " '{}', i % 10000, now(), now() FROM generate_series(1, 30000) i",
        [api.site.id],
    )
    await execute(
        "INSERT INTO companies (site_id, external_id, name, attributes, created_at, updated_at)"
        " SELECT $1, 'k' || i, 'Company ' || i, '{}', now(), now()"
        " FROM generate_series(1, 30000) i",
        [api.site.id],
    )
    await execute("ANALYZE members")
    await execute("ANALYZE companies")


def statement(text: str, site_id: int, q: str) -> str:
    return service.inline(text, service.search_values(site_id, q, 20) | {"cap": 100})


@pytest.mark.parametrize(
    ("kind", "indexes"),
    [
        ("members", ["members_picker_id", "members_picker_email", "members_picker_name"]),
        ("companies", ["companies_picker_id", "companies_picker_name"]),
    ],
)
async def test_each_statement_reads_its_index(
    api: Api, kind: Literal["members", "companies"], indexes: list[str]
) -> None:
    await given_many(api)
    q = "north" if kind == "companies" else "smith"
    # the first read of every match: the trigram index
    explained = await plan(statement(service.capped_sql(kind, "all"), api.site.id, q))
    assert f"{kind}_picker_trgm" in explained, explained
    # the exact and the prefix matches: the prefix btrees of each searched column
    for group in (0, 1):
        explained = await plan(statement(service.capped_sql(kind, group), api.site.id, q))
        assert all(index in explained for index in indexes), explained
        assert "Seq Scan" not in explained, explained
    # a walk of a common word's group: the label index, in order (no sort)
    explained = await plan(statement(service.walk_sql(kind, 2), api.site.id, q))
    assert f"{kind}_picker_label" in explained, explained
    assert "Sort" not in explained, explained


async def test_a_common_word_gets_the_answer_of_the_sorted_statement(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given members whose words are common: many exact, prefix and anywhere matches each
    firsts = ["Ann", "Anna", "Joanna", "Hannah", "Bob", "Lee", "Annabel", "Dan"]
    for i in range(120):
        first = firsts[i % len(firsts)]
        email = None if i % 7 == 0 else f"{first.lower()}.{i}@example.com"
        name = None if i % 11 == 0 else (first if i % 5 == 0 else f"{first} Smith")
        await members(api, f"ann{i}" if i % 9 == 0 else f"m{i:03d}", email=email, name=name)
    # and thresholds small enough that every path runs: few candidates, short walks
    monkeypatch.setattr(service, "CANDIDATES", 3)
    for walk in (4, 40, 10_000):
        monkeypatch.setattr(service, "WALK", walk)
        for q in ["ann", "Anna", "a", "n", "smith", "ann1", "example", "x", "m0", "bob smith"]:
            for limit in (1, 5, 20, 200):
                # when searched group by group
                found = await service.search_members(site_id=api.site.id, q=q, limit=limit)
                # then the answer is the one of the single ranked and sorted statement
                text, params = service.bind(
                    service.search_sql("members"), service.search_values(api.site.id, q, limit)
                )
                expected = [r["external_id"] for r in await fetch(text, params)]
                assert [c.id for c in found] == expected, (q, limit, walk)
