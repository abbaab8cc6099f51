"""Benchmark of the pickers: searchMembers and searchCompanies over HTTP, beside the
statements they ran before the trigram indexes (a sequential scan), in the same run.
(Since migration 0010 a common word is read group by group along the label index: see
app/pickers/service.py.)

    python bench/pickers.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench]
                            [--calls 9]

On PostgreSQL seeded by bench/seed.py (reused when already there; migrated to the newest
migration first, which adds the pickers' trigram indexes). For each search text: the
median of ``--calls`` HTTP calls of the service (a running uvicorn, GraphQL with a bearer
key), the median of the same number of runs of the old statement (no prefilter on the
indexed text, so a scan of the site's members) through asyncpg, and the plan the service's
statement gets (its first index name, or "seq scan"). Target: every search under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from typing import Any

import asyncpg
import httpx
from _common import (
    asyncpg_dsn,
    create_admin_key,
    graphql_async,
    is_postgres_url,
    print_table,
    start_server,
    vacuum_analyze,
)

from app.db import like_pattern, migrate_database

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench"
SITE = "bench"
TARGET_MS = 50.0
# (picker, search text, what it is): typed prefixes, a full id, a fragment, a rare miss
SEARCHES = (
    ("members", "m0004242", "a full member id"),
    ("members", "grace.hop", "an email prefix"),
    ("members", "lovelace12", "a name + number fragment"),
    ("members", "knuth", "a last name (many matches)"),
    ("members", "zzqx", "no match"),
    ("companies", "c000042", "a company id"),
    ("companies", "northwind", "a company word (many matches)"),
    ("companies", "summit pioneer", "two words"),
    ("members", "ada", "a first name (many prefix matches)"),
    ("members", "example", "an email domain word (many matches)"),
    ("members", "a", "one letter"),
)
MEMBERS_OLD = """
SELECT external_id, email, name,
       CASE WHEN lower(external_id) = $2 OR lower(email) = $2 OR lower(name) = $2 THEN 0
            WHEN lower(external_id) LIKE $3 ESCAPE '\\' OR lower(email) LIKE $3 ESCAPE '\\'
              OR lower(name) LIKE $3 ESCAPE '\\' THEN 1 ELSE 2 END AS rank
  FROM members
 WHERE site_id = $1 AND (lower(external_id) LIKE $4 ESCAPE '\\'
       OR lower(email) LIKE $4 ESCAPE '\\' OR lower(name) LIKE $4 ESCAPE '\\')
 ORDER BY rank, lower(COALESCE(email, name, external_id)), external_id LIMIT $5
"""
COMPANIES_OLD = """
SELECT external_id, name, plan,
       CASE WHEN lower(external_id) = $2 OR lower(name) = $2 THEN 0
            WHEN lower(external_id) LIKE $3 ESCAPE '\\' OR lower(name) LIKE $3 ESCAPE '\\'
            THEN 1 ELSE 2 END AS rank
  FROM companies
 WHERE site_id = $1 AND (lower(external_id) LIKE $4 ESCAPE '\\' OR lower(name) LIKE $4 ESCAPE '\\')
 ORDER BY rank, lower(name), external_id LIMIT $5
"""
SEARCH = {
    "members": "query($q: String!) { searchMembers(q: $q, limit: 20) { id label } }",
    "companies": "query($q: String!) { searchCompanies(q: $q, limit: 20) { id label } }",
}


def say(text: str) -> None:
    print(text, flush=True)


def _params(site_id: int, q: str) -> list[Any]:
    anywhere = like_pattern(q)
    return [site_id, q.lower(), anywhere[1:], anywhere, 20]


async def plan_of(conn: asyncpg.Connection, picker: str, site_id: int, q: str) -> str:
    """The indexes the service's first statement reads, from EXPLAIN (or 'seq scan')."""
    from app.pickers import service

    values = service.search_values(site_id, q, 20)
    text = service.inline(service.capped_sql(picker, "all"), values)  # type: ignore[arg-type]
    lines = [r[0] for r in await conn.fetch("EXPLAIN " + text)]
    found = [
        line.split(" on ")[1].split()[0] for line in lines if "Index" in line and " on " in line
    ]
    if found:
        return ", ".join(dict.fromkeys(found))
    return "seq scan" if any("Seq Scan" in x for x in lines) else lines[0].strip()


async def bench(args: argparse.Namespace) -> int:
    url: str = args.database_url
    if not is_postgres_url(url):
        say("PostgreSQL only")
        return 2
    await migrate_database(url)
    await vacuum_analyze(url)
    conn = await asyncpg.connect(asyncpg_dsn(url, keep_options=False))
    site_id = await conn.fetchval("SELECT id FROM sites WHERE slug = $1", SITE)
    members = await conn.fetchval("SELECT count(*) FROM members WHERE site_id = $1", site_id)
    say(f"{members:,} members")
    key = await create_admin_key(url, SITE, name="bench-pickers")
    server = start_server(url)
    rows: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(timeout=60.0) as client:
            for picker, q, what in SEARCHES:
                service_ms, old_ms, found = [], [], 0
                for _ in range(args.calls):
                    t = time.perf_counter()
                    data = await graphql_async(
                        server.url, key, SEARCH[picker], {"q": q}, client=client
                    )
                    service_ms.append((time.perf_counter() - t) * 1000)
                    found = len(next(iter(data.values())))
                    old = MEMBERS_OLD if picker == "members" else COMPANIES_OLD
                    t = time.perf_counter()
                    await conn.fetch(old, *_params(site_id, q))
                    old_ms.append((time.perf_counter() - t) * 1000)
                rows.append(
                    {
                        "picker": picker,
                        "q": q,
                        "what": what,
                        "found": found,
                        "service ms": statistics.median(service_ms),
                        "old statement ms": statistics.median(old_ms),
                        "plan": await plan_of(conn, picker, site_id, q),
                    }
                )
    finally:
        server.stop()
        await conn.close()
    print_table(rows)
    slow = [r for r in rows if r["service ms"] > TARGET_MS]
    say(f"target: every search under {TARGET_MS:.0f} ms: {'met' if not slow else 'NOT met'}")
    return 0 if not slow else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--calls", type=int, default=9)
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
