"""Benchmark of lookups: isMember, memberSegments and membershipsOf under load, and the
memberCount of a DYNAMIC segment, each beside a raw baseline in the same run.

    python bench/lookups.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench]
                            [--seconds 20] [--concurrency 32] [--reseed]

On PostgreSQL seeded by bench/seed.py (1,000,000 members, 10,000 companies, 1,000 segments of
which 100 DYNAMIC with rules of 3-6 tests, 5,000,000 listings; reused when already there):

- the service: a running uvicorn (`app.main:create_app`), GraphQL over HTTP with a bearer key;
- the raw baseline: a running uvicorn with bench/raw_lookup.py, a minimal Starlette + asyncpg
  app answering the same questions for *listed* membership with one prepared statement each
  (it knows nothing of companies, rules, exclusions, status or tenancy by key).

Each runs ``--concurrency`` keep-alive clients for ``--seconds`` (after a 2 s warm-up) from
a separate process. Half the lookups ask about a (segment, member) pair that is listed, half
about a random member in a random segment (a tenth of the segments are DYNAMIC), the same
mix for both. Printed: requests/s, p50, p99 and the server process's CPU time per request
(read from /proc before and after the run: on a shared machine requests/s moves with the
neighbours, CPU per request much less). Targets: isMember at most 2x the raw CPU per request,
p99 under 50 ms.

Then the count: ``memberCount`` of a DYNAMIC segment over the 1,000,000 members (a segment
made for the run, with a fixed rule), median of 5 HTTP calls, beside the same count written
by hand in SQL (median of 5, asyncpg); target within 1.3x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import httpx
import seed as seeder
from _common import (
    LoadResult,
    Server,
    asyncpg_dsn,
    create_admin_key,
    is_postgres_url,
    load,
    print_table,
    ratio,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench"
KEY_NAME = "bench-lookups"
COUNT_SEGMENT = "bench-lookups-dynamic"
COUNT_RULE = (
    "attributes.tier IN ('gold', 'platinum') AND attributes.points >= 500"
    " AND attributes.country IS NOT NULL"
)
# the same count, written by hand: rule matches, listed (unexpired) or via a listed company,
# minus exclusions
HAND_COUNT = """
SELECT count(*) FROM members m
 WHERE m.site_id = $1
   AND ((m.attributes->>'tier' IN ('gold', 'platinum')
         AND jsonb_typeof(m.attributes->'points') = 'number'
         AND (m.attributes->>'points')::numeric >= 500
         AND m.attributes ? 'country' AND m.attributes->'country' <> 'null'::jsonb)
        OR EXISTS (SELECT 1 FROM segment_members sm WHERE sm.segment_id = $2
                    AND sm.member_id = m.id
                    AND (sm.expires_at IS NULL OR sm.expires_at > now()))
        OR EXISTS (SELECT 1 FROM segment_companies sc WHERE sc.segment_id = $2
                    AND sc.company_id = m.company_id))
   AND NOT EXISTS (SELECT 1 FROM segment_exclusions x WHERE x.segment_id = $2
                    AND x.member_id = m.id)
"""
IS_MEMBER = "query IsMember($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
MEMBER_SEGMENTS = "query MemberSegments($m: ID!) { memberSegments(memberId: $m) { id } }"
MEMBERSHIPS_OF = (
    "query MembershipsOf($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
)
COUNT = "query Count($id: ID!) { segment(id: $id) { memberCount } }"


def say(text: str) -> None:
    print(text, flush=True)


class Picks:
    """What the requests ask about: listed pairs, and random members and segments."""

    def __init__(self, pairs: list[tuple[int, str]], segments: list[int], members: int) -> None:
        self.pairs = pairs
        self.segments = segments
        self.members = members
        self.rng = random.Random(11)

    def member(self) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice(self.pairs)[1]
        return seeder.member_external_id(self.rng.randint(1, self.members), self.members)

    def pair(self) -> tuple[str, str]:
        if self.rng.random() < 0.5:
            segment, member = self.rng.choice(self.pairs)
            return str(segment), member
        return str(self.rng.choice(self.segments)), self.member()

    def members_of(self, n: int) -> list[str]:
        return [self.member() for _ in range(n)]


def scenarios(picks: Picks) -> list[tuple[str, Callable[[], Any], str, Callable[[], Any]]]:
    """(name, service body, raw path, raw body) of each load scenario."""

    def is_member() -> tuple[dict[str, Any], dict[str, Any]]:
        s, m = picks.pair()
        return (
            {"query": IS_MEMBER, "variables": {"s": s, "m": m}},
            {"segmentId": s, "memberId": m},
        )

    def member_segments() -> tuple[dict[str, Any], dict[str, Any]]:
        m = picks.member()
        return {"query": MEMBER_SEGMENTS, "variables": {"m": m}}, {"memberId": m}

    def memberships_of() -> tuple[dict[str, Any], dict[str, Any]]:
        ids = picks.members_of(100)
        return {"query": MEMBERSHIPS_OF, "variables": {"ids": ids}}, {"memberIds": ids}

    def split(make: Callable[[], tuple[Any, Any]]) -> tuple[Callable[[], Any], Callable[[], Any]]:
        # Bodies are made in the forked load process, from this process's generator state,
        # which the children never advance: both sides ask exactly the same questions.
        return (lambda: make()[0]), (lambda: make()[1])

    out = []
    for name, make, path in (
        ("isMember", is_member, "/is-member"),
        ("memberSegments", member_segments, "/member-segments"),
        ("membershipsOf (100 ids)", memberships_of, "/memberships-of"),
    ):
        service, raw = split(make)
        out.append((name, service, path, raw))
    return out


def run_load(
    server: Server, url: str, key: str | None, body: Callable[[], Any], args: argparse.Namespace
) -> tuple[LoadResult, float]:
    before = server.cpu_seconds()
    result = load(url, key, body, concurrency=args.concurrency, seconds=args.seconds, warmup=2.0)
    # the warm-up's requests are not counted; neither is their CPU (about warmup/total of it)
    used = server.cpu_seconds() - before
    share = args.seconds / (args.seconds + 2.0)
    cpu_us = used * share / max(result.requests, 1) * 1e6
    if result.errors:
        raise RuntimeError(f"{result.errors} errors, first: {result.first_error}")
    return result, cpu_us


async def count_timings(
    conn: Any, client: httpx.AsyncClient, server: Server, key: str, site_id: int
) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    made = await client.post(
        server.url + "/graphql",
        headers=headers,
        json={
            "query": "mutation($i: CreateSegmentInput!) { createSegment(input: $i)"
            " { segment { id } userErrors { message } } }",
            "variables": {"i": {"name": COUNT_SEGMENT, "type": "DYNAMIC", "rule": COUNT_RULE}},
        },
    )
    body = made.json()
    if not body.get("data"):
        # e.g. a 503 TIMEOUT: the DYNAMIC segment's matches over every member, on a busy machine
        raise RuntimeError(f"createSegment answered {made.status_code}: {body}")
    payload = body["data"]["createSegment"]
    if payload["userErrors"]:
        raise RuntimeError(payload["userErrors"])
    segment_id = payload["segment"]["id"]
    service, raw, counts = [], [], set()
    for _ in range(6):
        t0 = time.perf_counter()
        answer = await client.post(
            server.url + "/graphql",
            headers=headers,
            json={"query": COUNT, "variables": {"id": segment_id}},
        )
        service.append(time.perf_counter() - t0)
        counts.add(answer.json()["data"]["segment"]["memberCount"])
        t0 = time.perf_counter()
        counts.add(await conn.fetchval(HAND_COUNT, site_id, int(segment_id)))
        raw.append(time.perf_counter() - t0)
    if len(counts) != 1:
        raise RuntimeError(f"the service and the hand-written SQL disagree: {counts}")
    # the first of each warms caches; the median of the other five is reported
    s, r = statistics.median(service[1:]), statistics.median(raw[1:])
    return [
        {
            "count": f"memberCount, DYNAMIC ({counts.pop():,} of 1M)",
            "service ms": s * 1000,
            "hand-written SQL ms": r * 1000,
            "ratio": ratio(s, r),
            "target": "<= 1.3",
        }
    ]


async def bench(args: argparse.Namespace) -> int:
    import asyncpg

    url: str = args.database_url
    if not is_postgres_url(url):
        raise SystemExit("lookups: this benchmark runs on PostgreSQL")
    summary = await seeder.seed(url, reset=args.reseed, quiet=True)
    site_id = int(summary["site_id"])
    say(f"seeded: {summary['counts']}; VACUUM ANALYZE {await vacuum_analyze(url):.1f} s")
    conn = await asyncpg.connect(asyncpg_dsn(url))
    servers: list[Server] = []
    try:
        await conn.execute(
            "DELETE FROM segments WHERE site_id = $1 AND name = $2", site_id, COUNT_SEGMENT
        )
        await conn.execute(
            "UPDATE sites SET segments_version = segments_version + 1 WHERE id = $1", site_id
        )
        segments = [
            r[0] for r in await conn.fetch("SELECT id FROM segments WHERE site_id = $1", site_id)
        ]
        pairs = [
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT sm.segment_id, m.external_id FROM segment_members sm TABLESAMPLE SYSTEM (1)"
                " JOIN members m ON m.id = sm.member_id WHERE sm.site_id = $1 LIMIT 5000",
                site_id,
            )
        ]
        members = int(summary["counts"]["members"])
        picks = Picks(pairs, segments, members)
        key = await create_admin_key(url, str(summary["site"]), name=KEY_NAME)
        service = start_server(url, timeout=60.0)
        servers.append(service)
        raw = start_server(
            url,
            app="raw_lookup:create_app",
            env={"SITE_ID": str(site_id)},
            extra_args=["--app-dir", "bench"],
            timeout=60.0,
        )
        servers.append(raw)
        rows = []
        for name, service_body, path, raw_body in scenarios(picks):
            ours, ours_cpu = run_load(service, service.url + "/graphql", key, service_body, args)
            theirs, theirs_cpu = run_load(raw, raw.url + path, None, raw_body, args)
            for who, result, cpu in (("service", ours, ours_cpu), ("raw", theirs, theirs_cpu)):
                rows.append(
                    {
                        "lookup": name,
                        "server": who,
                        "req/s": result.rps,
                        "p50 ms": result.p50_ms,
                        "p99 ms": result.p99_ms,
                        "CPU us/req": cpu,
                        "CPU ratio": ratio(cpu, theirs_cpu) if who == "service" else None,
                    }
                )
            say(f"{name}: done")
        say(f"\n{args.concurrency} clients x {args.seconds:g} s each, PostgreSQL, 1M members\n")
        print_table(rows)
        say("")
        async with httpx.AsyncClient(timeout=120.0, trust_env=False) as client:
            print_table(await count_timings(conn, client, service, key, site_id))
        is_member = rows[0]
        say(
            f"\nisMember: {is_member['CPU ratio']:.2f}x the raw CPU per request (target <= 2),"
            f" p99 {is_member['p99 ms']:.1f} ms (target < 50)"
        )
        say(
            f"server peak RSS: service {service.peak_rss_mb():.0f} MB,"
            f" raw {raw.peak_rss_mb():.0f} MB"
        )
        return 0
    finally:
        await conn.execute(
            "DELETE FROM segments WHERE site_id = $1 AND name = $2", site_id, COUNT_SEGMENT
        )
        await conn.execute("DELETE FROM api_keys WHERE name = $1", KEY_NAME)
        await conn.close()
        for server in servers:
            server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--reseed", action="store_true", help="drop and reseed the database first")
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
