"""Benchmark of the CSV export of a big segment beside PostgreSQL's own COPY TO, same run.

    python bench/export.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench]
                           [--segment NAME] [--repeat 1]

On PostgreSQL seeded by bench/seed.py (reused when already there). The segment is the
largest listed (not DYNAMIC) one unless ``--segment`` names another. Timed:

- the service: ``GET /export/segments/{id}/members.csv`` from a running uvicorn, streamed
  and counted by this script, with the server's peak RSS (VmHWM, reset first where the
  kernel allows it);
- the raw baseline: ``COPY (SELECT ...) TO STDOUT (FORMAT csv)`` through asyncpg of the same
  rows: the segment's effective members (listed and unexpired, members of its listed
  companies, minus exclusions) with the same columns, in member order.

The two must agree on the number of rows. Target: the service within 3x of COPY, its peak
RSS flat (it streams a page at a time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import seed as seeder
from _common import (
    asyncpg_dsn,
    create_admin_key,
    is_postgres_url,
    peak_rss_mb,
    print_table,
    ratio,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench"
KEY_NAME = "bench-export"
TARGET = 3.0
RAW_EXPORT = """
SELECT m.external_id AS id, m.email, m.name, c.external_id AS company_id, e.source,
       m.attributes
  FROM (SELECT sm.member_id, sm.source FROM segment_members sm
         WHERE sm.site_id = {site} AND sm.segment_id = {segment}
           AND (sm.expires_at IS NULL OR sm.expires_at > now())
        UNION ALL
        SELECT m.id, 'COMPANY' FROM segment_companies sc
          JOIN members m ON m.company_id = sc.company_id
         WHERE sc.site_id = {site} AND sc.segment_id = {segment} AND m.site_id = {site}
           AND NOT EXISTS (SELECT 1 FROM segment_members l
                            WHERE l.segment_id = {segment} AND l.member_id = m.id
                              AND (l.expires_at IS NULL OR l.expires_at > now()))) e
  JOIN members m ON m.id = e.member_id
  LEFT JOIN companies c ON c.id = m.company_id
 WHERE NOT EXISTS (SELECT 1 FROM segment_exclusions x
                    WHERE x.segment_id = {segment} AND x.member_id = e.member_id)
 ORDER BY e.member_id
"""


def say(text: str) -> None:
    print(text, flush=True)


class _Sink:
    def __init__(self) -> None:
        self.lines = 0

    async def __call__(self, chunk: bytes) -> None:
        self.lines += chunk.count(b"\n")


async def raw_export(url: str, site_id: int, segment_id: int) -> tuple[float, int]:
    conn = await asyncpg.connect(asyncpg_dsn(url, keep_options=False))
    try:
        sink = _Sink()
        started = time.perf_counter()
        await conn.copy_from_query(
            RAW_EXPORT.format(site=int(site_id), segment=int(segment_id)),
            output=sink,
            format="csv",
            header=True,
        )
        return time.perf_counter() - started, sink.lines - 1
    finally:
        await conn.close()


def reset_peak_rss(pid: int) -> None:
    """Reset a process's VmHWM to its current RSS (Linux >= 4.0), where allowed."""
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/clear_refs").write_text("5")


async def service_export(url: str, pid: int, key: str, segment_id: int) -> tuple[float, int]:
    reset_peak_rss(pid)
    lines = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=600.0, trust_env=False) as client,
        client.stream(
            "GET",
            f"{url}/export/segments/{segment_id}/members.csv",
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        if response.status_code != 200:
            raise SystemExit(f"export: HTTP {response.status_code}")
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, lines - 1


async def bench(args: argparse.Namespace) -> int:
    url: str = args.database_url
    if not is_postgres_url(url):
        raise SystemExit("export: this benchmark runs on PostgreSQL")
    summary = await seeder.seed(url, quiet=True)
    site_id = int(summary["site_id"])
    say(f"seeded: {summary['counts']}; VACUUM ANALYZE {await vacuum_analyze(url):.1f} s")
    conn = await asyncpg.connect(asyncpg_dsn(url, keep_options=False))
    try:
        if args.segment:
            segment_id = await conn.fetchval(
                "SELECT id FROM segments WHERE site_id = $1 AND name = $2", site_id, args.segment
            )
        else:
            segment_id = await conn.fetchval(
                "SELECT sm.segment_id FROM segment_members sm JOIN segments s"
                " ON s.id = sm.segment_id WHERE s.site_id = $1 AND s.type <> 'DYNAMIC'"
                " GROUP BY sm.segment_id ORDER BY count(*) DESC LIMIT 1",
                site_id,
            )
        if segment_id is None:
            raise SystemExit("export: no such segment")
        key = await create_admin_key(url, str(summary["site"]), name=KEY_NAME)
    finally:
        await conn.close()
    server = start_server(url, timeout=60.0)
    service: list[tuple[float, int, float]] = []
    raw: list[tuple[float, int]] = []
    try:
        for i in range(args.repeat):
            seconds, rows = await service_export(server.url, server.pid, key, segment_id)
            service.append((seconds, rows, peak_rss_mb(server.pid)))
            raw.append(await raw_export(url, site_id, segment_id))
            say(f"[{i + 1}] service {seconds:.1f} s ({rows:,} rows), COPY TO {raw[-1][0]:.1f} s")
            if raw[-1][1] != rows:
                raise SystemExit(f"the service wrote {rows:,} rows, COPY {raw[-1][1]:,}")
    finally:
        server.stop()
        conn = await asyncpg.connect(asyncpg_dsn(url, keep_options=False))
        await conn.execute("DELETE FROM api_keys WHERE name = $1", KEY_NAME)
        await conn.close()
    s = statistics.median(x[0] for x in service)
    r = statistics.median(x[0] for x in raw)
    rows = service[0][1]
    table: list[dict[str, Any]] = [
        {
            "what": "service: GET .../members.csv",
            "seconds": s,
            "rows/s": rows / s,
            "peak RSS MB": max(x[2] for x in service),
        },
        {"what": "raw: COPY (SELECT ...) TO STDOUT", "seconds": r, "rows/s": rows / r},
        {"what": "ratio service / COPY", "seconds": ratio(s, r)},
    ]
    say(f"\nexport of segment {segment_id} ({rows:,} members), median of {args.repeat}")
    print_table(table)
    met = s <= TARGET * r
    say(f"target: within {TARGET:g}x of COPY: {'met' if met else 'NOT met'}")
    return 0 if met else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--segment", default="", help="a segment's name (default: the largest)")
    parser.add_argument("--repeat", type=int, default=1)
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
