"""Fill a database with benchmark data: a site, companies, members, segments and listings.

    python bench/seed.py --database-url postgres://postgres@127.0.0.1:5432/segments_bench --reset
    python bench/seed.py --database-url sqlite://./data/bench.sqlite3 --members 50000 --reset

Fast on purpose. On PostgreSQL the rows go in with binary COPY (asyncpg
``copy_records_to_table``) on one connection of our own; the big tables (members,
segment_members) have their secondary indexes and constraints dropped for the load
and rebuilt from their own catalog definitions afterwards, in the same transaction,
so the schema the migrations made is exactly what is left. On SQLite the rows go in
with ``executemany``, one transaction per table.

Rows are written in exactly the representation the ORM uses, so that the service
reads them back: on SQLite timestamps are ``datetime.isoformat(" ")`` in UTC
(``2024-01-02 03:04:05.123456+00:00``), enums their value string, JSON compact
orjson text, booleans 0/1; on PostgreSQL timestamptz, jsonb and boolean.

Everything is generated from ``--seed``: the same arguments give the same data (its
timestamps are relative to the time of the run).
Ids are explicit (1..n on a fresh database, after the current maximum otherwise) and
the sequences are moved past them, so that later inserts by the service do not collide.

Importable: ``await seed(url, members=..., ...)`` returns a summary dict. Run again
without ``--reset`` on a site already seeded with the same counts, it does nothing
and says so (``summary["skipped"]``); a site holding other data is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from typing import Any

from _seed_model import (
    Plan,
    SeedError,
    member_external_id,  # noqa: F401  (bench scripts use seed.member_external_id)
)
from _seed_postgres import (
    _seed_postgres,
    drop_postgres_database,  # noqa: F401  (bench scripts use seed.drop_postgres_database)
)
from _seed_report import Report
from _seed_sqlite import _seed_sqlite

from app.db import normalize_url


async def seed(
    database_url: str,
    *,
    members: int = 1_000_000,
    companies: int = 10_000,
    segments: int = 1_000,
    dynamic: int = 100,
    memberships: int = 5_000_000,
    site: str = "bench",
    seed: int = 42,
    reset: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Seed the database; returns a summary: counts, timings (s), largest segments, ids."""
    for name, value in (
        ("members", members),
        ("companies", companies),
        ("segments", segments),
        ("dynamic", dynamic),
        ("memberships", memberships),
    ):
        if value < 0:
            raise SeedError(f"--{name} must be >= 0")
    if dynamic > segments:
        raise SeedError("--dynamic cannot exceed --segments")
    plan = Plan(members, companies, segments, dynamic, memberships, site, seed)
    report = Report(quiet)
    url = normalize_url(database_url)
    report.say(
        f"seeding {_redact(database_url)} site {site!r}: {members:,} members, "
        f"{companies:,} companies, {segments:,} segments ({dynamic:,} dynamic), "
        f"{memberships:,} memberships, seed {seed}"
    )
    if url.startswith("postgres://"):
        summary = await _seed_postgres(url, plan, reset, report)
    elif url.startswith("sqlite://"):
        summary = await _seed_sqlite(url, plan, reset, report)
    else:
        raise SeedError(f"unsupported database URL {url!r}")
    summary["database_url"] = database_url
    summary["total_seconds"] = round(report.total, 3)
    if not quiet:
        rows = sum(summary["counts"].values())
        print(f"  {'total':<32}{rows:>12,} rows  {report.total:8.2f} s", flush=True)
        if summary["largest_segments"]:
            top = ", ".join(f"{s['name']}={s['size']:,}" for s in summary["largest_segments"][:5])
            print(f"  largest segments: {top}", flush=True)
    return summary


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return scheme + sep + rest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="postgres://... or sqlite://path (default: $DATABASE_URL)",
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=1_000)
    parser.add_argument("--dynamic", type=int, default=100, help="how many segments are DYNAMIC")
    parser.add_argument("--memberships", type=int, default=5_000_000, help="listed memberships")
    parser.add_argument("--site", default="bench", help="the site's slug")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--reset", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    try:
        asyncio.run(
            seed(
                args.database_url,
                members=args.members,
                companies=args.companies,
                segments=args.segments,
                dynamic=args.dynamic,
                memberships=args.memberships,
                site=args.site,
                seed=args.seed,
                reset=args.reset,
                quiet=args.quiet,
            )
        )
    except SeedError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
