"""The pickers' search statements are answered from the trigram indexes of migration 0011
on PostgreSQL (the statement's prefilter is the very expression indexed); SQLite scans."""

from __future__ import annotations

from typing import Literal

import pytest
from tortoise.transactions import in_transaction

from app.db import execute, like_pattern
from app.pickers import service
from tests.factories import Api, companies, members


async def plan(kind: Literal["members", "companies"], site_id: int, q: str) -> str:
    """The plan of the search statement, with sequential scans made a last resort (so that
    the answer does not hang on the planner's estimates for a tiny table)."""
    pattern = like_pattern(q)
    async with in_transaction() as conn:
        await conn.execute_script("SET LOCAL enable_seqscan = off")
        rows = await conn.execute_query_dict(
            "EXPLAIN " + service.search_sql(kind), [site_id, q, pattern[1:], pattern, 20]
        )
    return "\n".join(str(r["QUERY PLAN"]) for r in rows)


@pytest.mark.parametrize(
    ("kind", "index"), [("members", "members_picker_trgm"), ("companies", "companies_picker_trgm")]
)
async def test_the_search_reads_the_trigram_index_on_postgresql(
    api: Api, kind: Literal["members", "companies"], index: str
) -> None:
    # given a site of tens of thousands of members and companies, one of them the one looked for
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
    # when the search statement is planned
    explained = await plan(kind, api.site.id, "north" if kind == "companies" else "smith")
    # then it reads the index
    assert index in explained, explained
    assert "Seq Scan" not in explained, explained
