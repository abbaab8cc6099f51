"""Benchmark of the record's member index (app.changes.index): a member's reads before and
after the background indexing, what the indexing costs and the room the index takes.

    python bench/history.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench_h]
                            [--changes 1200000] [--members 200000] [--write 50000]
                            [--repeat 7]

The database is emptied and migrated, then one site's record is written as the writers
write it (app.memberships.kept.emit, the record alone): writes of ``--write`` changes, each
of one segment (20), alternately ENTERED and EXITED, of a slice of ``--members`` members, a
moment each over the last 60 days, to ``--changes`` changes in all. In-process (Tortoise on
the bench database, no server): the CPU is this process's plus that of the PostgreSQL
backends serving the bench database (from /proc: PostgreSQL on this machine; "nan"
otherwise).

- the reads of one member (``isMember(at:)``: history.earliest_after of a segment at the
  middle of the history; ``memberSegments(at:)``: the same over every segment;
  ``membershipChanges(memberId:, first: 100)``: feed.list_changes): first with no index
  (every row of the site read: the reads as they were), then with the whole record indexed,
  then with the index one write behind (``--write`` changes not indexed yet: the rows after
  the watermark are read in the rows); over ``--repeat`` members, the median on the clock
  and the mean CPU.
- the indexing: index.index_site over the whole record (as the sweeper's first pass on a
  site recorded before the index would), its CPU per million changes; then one write's
  worth (as each sweep after a write would).
- the bytes: membership_member_rows with its indexes, per million changes, beside the
  record's (membership_changes with its indexes).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from _common import asyncpg_dsn, cpu_seconds, format_table, fresh_database, is_postgres_url

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench_h"
SEGMENTS = 20


class Cpu:
    """This process's CPU seconds plus the bench database's backends' (not the observer's)."""

    def __init__(self, observer: Any) -> None:
        self.observer = observer

    async def _backends(self) -> dict[int, float]:
        rows = await self.observer.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        found = {}
        for r in rows:
            try:
                found[int(r["pid"])] = cpu_seconds(int(r["pid"]))
            except (OSError, IndexError, ValueError):
                return {}
        return found

    async def read(self) -> tuple[float, dict[int, float]]:
        return time.process_time(), await self._backends()

    async def since(self, before: tuple[float, dict[int, float]]) -> tuple[float, float]:
        """(own CPU, backends' CPU) since ``before``."""
        own, backends = before
        now = await self._backends()
        pg = sum(s - backends.get(pid, 0.0) for pid, s in now.items()) if now else float("nan")
        return time.process_time() - own, pg


SELECT = (
    "SELECT $1::bigint AS segment_id, m AS member_id, 'cus_' || m AS member_ref,"
    " $2::text AS kind, 'LISTED' AS cause, $3::timestamptz AS at"
    " FROM generate_series($4::bigint, $5::bigint) AS g(n), LATERAL (SELECT (g.n % $6) AS m) x"
    " ORDER BY g.n"
)


async def _seed(site_id: int, changes: int, members: int, per_write: int) -> list[datetime]:
    from tortoise.transactions import in_transaction

    from app.memberships import kept
    from app.memberships.lock import ensure_site

    now = datetime.now(UTC)
    writes = -(-changes // per_write)
    moments = []
    start = random.Random(1).randrange(members)
    for i in range(writes):
        at = now - timedelta(days=60) + timedelta(days=60) * i / writes
        moments.append(at)
        kind = "ENTERED" if (i // SEGMENTS) % 2 == 0 else "EXITED"
        first = start + i * per_write
        async with in_transaction() as tx:
            await ensure_site(site_id, tx, now, expire=False)
            w = kept.Writer(tx, site_id, now)
            await kept.emit(
                w,
                SELECT,
                [1 + i % SEGMENTS, kind, at, first, first + per_write - 1, members],
                counters=False,
            )
    return moments


async def _reads(
    site_id: int, refs: list[str], at: datetime, cpu: Cpu, *, indexed: bool
) -> dict[str, tuple[float, float]]:
    """Each read over ``refs``: (median ms on the clock, mean ms of CPU: own + backends)."""
    from app.changes import feed, history

    async def is_member(ref: str) -> Any:
        return await history.earliest_after(
            site_id=site_id, member_ref=ref, at=at, segment_pk=1, indexed=indexed
        )

    async def segments_at(ref: str) -> Any:
        return await history.earliest_after(site_id=site_id, member_ref=ref, at=at, indexed=indexed)

    async def changes_of(ref: str) -> Any:
        return await feed.list_changes(
            site_id=site_id, after=0, first=100, member_ref=ref, indexed=indexed
        )

    out = {}
    for name, read in (
        ("isMember(at:)", is_member),
        ("memberSegments(at:)", segments_at),
        ("membershipChanges(memberId:)", changes_of),
    ):
        for ref in refs:  # warm: the same pages cached for every variant
            await read(ref)
        clock = []
        before = await cpu.read()  # over every read: /proc counts CPU in ticks of 10 ms
        for ref in refs:
            t = time.perf_counter()
            await read(ref)
            clock.append((time.perf_counter() - t) * 1000)
        own, pg = await cpu.since(before)
        out[name] = (statistics.median(clock), (own + pg) * 1000 / len(refs))
    return out


async def _size(conn: Any, table: str) -> int:
    return int(await conn.fetchval(f"SELECT pg_total_relation_size('{table}')"))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--changes", type=int, default=1_200_000)
    parser.add_argument("--members", type=int, default=200_000)
    parser.add_argument("--write", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    url = args.database_url
    if not is_postgres_url(url):
        sys.exit("bench/history.py measures PostgreSQL: give a postgres:// URL")

    import asyncpg
    from tortoise import Tortoise

    from app.auth.service import create_site
    from app.changes import index
    from app.db import tortoise_config

    print(f"resetting and migrating {url} ...", flush=True)
    await fresh_database(url)
    await Tortoise.init(config=tortoise_config(url))
    observer = await asyncpg.connect(asyncpg_dsn(url))
    cpu = Cpu(observer)
    try:
        site = (await create_site(slug="history", name="History")).id
        t = time.perf_counter()
        moments = await _seed(site, args.changes, args.members, args.write)
        written = int(
            await observer.fetchval(
                "SELECT SUM(size) FROM membership_changes WHERE site_id = $1", site
            )
        )
        print(f"record: {written:,} changes in {time.perf_counter() - t:.1f} s", flush=True)
        await observer.execute("VACUUM ANALYZE")
        at = moments[len(moments) // 2]
        rng = random.Random(7)
        refs = [f"cus_{rng.randrange(args.members)}" for _ in range(args.repeat)]

        scan = await _reads(site, refs, at, cpu, indexed=False)

        before = await cpu.read()
        t = time.perf_counter()
        done = await index.index_site(site)
        index_clock = time.perf_counter() - t
        index_own, index_pg = await cpu.since(before)
        assert done == written, (done, written)
        await observer.execute("VACUUM ANALYZE membership_member_rows")
        indexed = await _reads(site, refs, at, cpu, indexed=True)
        for ref in refs:  # the same answers
            from app.changes import feed, history

            for segment in (None, 1):
                a = await history.earliest_after(
                    site_id=site, member_ref=ref, at=at, segment_pk=segment, indexed=True
                )
                b = await history.earliest_after(
                    site_id=site, member_ref=ref, at=at, segment_pk=segment, indexed=False
                )
                assert a == b, (ref, a, b)
            a2 = await feed.list_changes(site_id=site, after=0, first=100, member_ref=ref)
            b2 = await feed.list_changes(
                site_id=site, after=0, first=100, member_ref=ref, indexed=False
            )
            assert a2 == b2, ref

        # one more write, not indexed yet: the readers read it in its rows
        await _seed_one(site, args, len(moments))
        behind = await _reads(site, refs, at, cpu, indexed=True)
        before = await cpu.read()
        t = time.perf_counter()
        one = await index.index_site(site)
        one_clock = time.perf_counter() - t
        one_own, one_pg = await cpu.since(before)

        total = int(
            await observer.fetchval(
                "SELECT SUM(size) FROM membership_changes WHERE site_id = $1", site
            )
        )
        index_bytes = await _size(observer, "membership_member_rows")
        record_bytes = await _size(observer, "membership_changes")
    finally:
        await observer.close()
        await Tortoise.close_connections()

    per_m = 1_000_000 / written
    print()
    print(f"reads of one member, {written:,} changes recorded ({args.repeat} members):")
    table: list[dict[str, Any]] = []
    for name in scan:
        s, i, b = scan[name], indexed[name], behind[name]
        table.append(
            {
                "read": name,
                "scan ms": round(s[0], 2),
                "scan CPU ms": round(s[1], 2),
                "indexed ms": round(i[0], 2),
                "indexed CPU ms": round(i[1], 2),
                "1 write behind ms": round(b[0], 2),
                "behind CPU ms": round(b[1], 2),
                "scan/indexed CPU": round(s[1] / i[1], 1) if i[1] > 0 else None,
            }
        )
    print(format_table(table))
    print()
    print("the background indexing (index.index_site):")
    table = [
        {
            "pass": "whole record",
            "changes": done,
            "s": round(index_clock, 2),
            "own CPU s": round(index_own, 2),
            "PG CPU s": round(index_pg, 2),
            "CPU s per 1M changes": round((index_own + index_pg) * per_m, 2),
        },
        {
            "pass": "one write",
            "changes": one,
            "s": round(one_clock, 2),
            "own CPU s": round(one_own, 2),
            "PG CPU s": round(one_pg, 2),
            "CPU s per 1M changes": round((one_own + one_pg) * 1_000_000 / max(one, 1), 2),
        },
    ]
    print(format_table(table))
    print()
    print("room (with indexes), per change and per million changes:")
    table = [
        {
            "relation": name,
            "MB": round(size / 1e6, 1),
            "bytes per change": round(size / total, 1),
            "MB per 1M changes": round(size / total, 1),
        }
        for name, size in (
            ("membership_changes (the record)", record_bytes),
            ("membership_member_rows (the index)", index_bytes),
        )
    ]
    print(format_table(table))


async def _seed_one(site_id: int, args: argparse.Namespace, i: int) -> None:
    from tortoise.transactions import in_transaction

    from app.memberships import kept
    from app.memberships.lock import ensure_site

    now = datetime.now(UTC)
    first = i * args.write
    async with in_transaction() as tx:
        await ensure_site(site_id, tx, now, expire=False)
        await kept.emit(
            kept.Writer(tx, site_id, now),
            SELECT,
            [2, "ENTERED", now, first, first + args.write - 1, args.members],
            counters=False,
        )


if __name__ == "__main__":
    asyncio.run(main())
