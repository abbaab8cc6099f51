"""Benchmark of what keeping membership as data costs the writes (issue 14).

    python bench/record.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench_record]
                           [--members 100000] [--upsert 10000] [--repeat 3] [--reseed]
                           [--edits-only | --no-edits]

On PostgreSQL, two sites seeded by bench/seed.py with the same members (``--members``,
companies, listings): ``record-dynamic`` has 100 segments, all DYNAMIC (rules of 3 to 6
tests from the seed's generator: attributes, company fields, days_ago(), percent(),
sometimes in_segment()); ``record-plain`` has 100 STATIC segments. A server (uvicorn, a
subprocess on 127.0.0.1, the sweeper off) is warmed by one small write per site, which
builds each site's kept rule matches and counters (untimed, reported).

- upsertMembers: ``--upsert`` existing members with new random attributes (tier, points,
  plan, score, beta: most rules read one), and again with one attribute no rule reads; the
  same ids and values on both sites, timed end to end over HTTP; the target is the DYNAMIC
  site within 2x the plain one. On the DYNAMIC site each rule reading a changed field is
  evaluated once per member (in SQL), the kept matches diffed and the changes recorded; the
  plain site writes the members and nothing else.
- rule edits: a DYNAMIC segment made with one rule, then ``updateSegment`` back and forth
  to another (entering and exiting members over the whole site recorded, kept matches and
  counters moved), beside the hand-written SQL that computes the same entering and exiting
  sets from the kept matches (one statement, the new rule written by hand in SQL); both
  sets' sizes must agree with the records the service wrote. A small edit (a threshold
  moved) and a large one (another rule). Target: within 3x. ``--edits-only`` skips the
  upserts (the edits then run on members the upserts have not rewritten: the same site as
  a reseed leaves it, or as the last run left it).

Beside the wall-clock times, the CPU each side used (the machine is shared and loaded: CPU
seconds move far less with the load than the seconds on the clock): the server process plus
the PostgreSQL backends serving the bench database for the service, the backends alone for
the hand-written SQL (read from /proc: PostgreSQL on this machine; "nan" otherwise).

Below the tables: the server's peak RSS, and the bytes the record (membership_changes, its
indexes included) grew by per million changes written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import seed as seeder
from _common import (
    asyncpg_dsn,
    cpu_seconds,
    create_admin_key,
    format_table,
    is_postgres_url,
    ratio,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench_record"
SITES = {"dynamic": "record-dynamic", "plain": "record-plain"}
SEGMENTS = 100

UPSERT = """
mutation Upsert($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { code message } }
}
"""
CREATE = """
mutation Create($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { code message } }
}
"""
UPDATE = """
mutation Update($id: ID!, $input: UpdateSegmentInput!) {
  updateSegment(id: $id, input: $input) { segment { id } userErrors { code message } }
}
"""

# Rule edits: a segment edited back and forth between two rules, each beside its
# hand-written SQL (the seed writes every member's points and score as numbers, tier and
# plan as strings). "small": a threshold moved (a few percent of the members change);
# "large": another rule altogether (about four in ten change).
EDITS: dict[str, tuple[tuple[str, str], tuple[str, str]]] = {
    "small": (
        ("attributes.points >= 1000", "(m.attributes->>'points')::numeric >= 1000"),
        ("attributes.points >= 1100", "(m.attributes->>'points')::numeric >= 1100"),
    ),
    "large": (
        (
            "attributes.points >= 1000 AND attributes.tier != 'bronze'",
            "(m.attributes->>'points')::numeric >= 1000 AND (m.attributes->>'tier') <> 'bronze'",
        ),
        (
            "attributes.score > 50 AND attributes.plan != 'free'",
            "(m.attributes->>'score')::numeric > 50 AND (m.attributes->>'plan') <> 'free'",
        ),
    ),
}
TIERS = ("bronze", "silver", "gold", "platinum")
PLANS = ("free", "starter", "pro", "enterprise")


class BenchError(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


async def call(
    client: httpx.AsyncClient, url: str, key: str, query: str, variables: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    response = await client.post(
        url,
        content=orjson.dumps({"query": query, "variables": variables}),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    seconds = time.perf_counter() - started
    data = orjson.loads(response.content)
    if response.status_code != 200 or data.get("errors"):
        raise BenchError(f"HTTP {response.status_code}: {response.text[:2000]}")
    payload: dict[str, Any] = next(iter(data["data"].values()))
    if payload.get("userErrors"):
        raise BenchError(f"userErrors: {payload['userErrors']}")
    return seconds, payload


# what the upserts change: five attributes most rules read, or one no rule reads
UPSERTS = ("rules' attributes", "an attribute no rule reads")


@dataclass
class Upserts:
    dynamic: list[float] = field(default_factory=list)
    plain: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the server's, on the DYNAMIC site
    # server + PostgreSQL CPU seconds of each side
    dynamic_cpu: list[float] = field(default_factory=list)
    plain_cpu: list[float] = field(default_factory=list)
    changes: list[int] = field(default_factory=list)


def upsert_rows(rng: random.Random, members: int, n: int, what: str) -> list[dict[str, Any]]:
    picked = rng.sample(range(1, members + 1), n)
    rows = []
    for i in picked:
        if what == UPSERTS[0]:
            attributes: dict[str, Any] = {
                "tier": rng.choice(TIERS),
                "points": rng.randrange(5000),
                "plan": rng.choice(PLANS),
                "score": round(rng.random() * 100, 2),
                "beta": rng.random() < 0.2,
            }
        else:
            attributes = {"last_seen": f"2026-11-{rng.randrange(1, 31):02d}"}
        rows.append({"id": seeder.member_external_id(i, members), "attributes": attributes})
    return rows


class Backends:
    """CPU seconds used by the PostgreSQL backends of the bench database (all but the bench's
    own connection: the server's pool), read from /proc; NaN when PostgreSQL runs elsewhere."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    async def _pids(self, own: bool) -> list[int]:
        if own:
            return [int(await self.conn.fetchval("SELECT pg_backend_pid()"))]
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]

    async def read(self, *, own: bool = False) -> dict[int, float]:
        found = {}
        for pid in await self._pids(own):
            try:
                found[pid] = cpu_seconds(pid)
            except (OSError, IndexError, ValueError):
                return {}
        return found

    async def since(self, before: dict[int, float], *, own: bool = False) -> float:
        """CPU seconds since ``before`` (a backend started since counts from zero)."""
        now = await self.read(own=own)
        if not now:
            return float("nan")
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


async def record_state(conn: Any) -> tuple[int, int]:
    """(changes, bytes with indexes) of the record (a row holds up to 4,096 changes)."""
    rows = await conn.fetchval("SELECT COALESCE(sum(size), 0) FROM membership_changes")
    size = await conn.fetchval("SELECT pg_total_relation_size('membership_changes')")
    return int(rows), int(size)


async def raw_sets(conn: Any, site_id: int, segment: int, rule_sql: str) -> tuple[float, int, int]:
    """The hand-written statement: who enters and who exits if the kept matches become the
    members the rule matches; returns (seconds, entering, exiting)."""
    started = time.perf_counter()
    row = await conn.fetchrow(
        "SELECT count(*) FILTER (WHERE r.member_id IS NULL) AS entering,"
        " count(*) FILTER (WHERE n.id IS NULL) AS exiting"
        f" FROM (SELECT m.id FROM members m WHERE m.site_id = $1 AND {rule_sql}) n"
        " FULL JOIN (SELECT member_id FROM segment_rule_matches WHERE segment_id = $2) r"
        " ON r.member_id = n.id WHERE n.id IS NULL OR r.member_id IS NULL",
        site_id,
        segment,
    )
    return time.perf_counter() - started, int(row["entering"]), int(row["exiting"])


@dataclass
class Edits:
    service: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    service_cpu: list[float] = field(default_factory=list)  # server + PostgreSQL
    raw_cpu: list[float] = field(default_factory=list)  # PostgreSQL
    changes: list[int] = field(default_factory=list)


async def rule_edits(
    client: httpx.AsyncClient,
    server: Any,
    conn: Any,
    key: str,
    site: int,
    rules: tuple[tuple[str, str], tuple[str, str]],
    args: argparse.Namespace,
) -> Edits:
    """A DYNAMIC segment made with the first rule (untimed), then edited ``--repeat`` times
    back and forth, each edit beside the hand-written SQL of its sets, computed just before
    on the same kept matches; the records the service writes must say the same."""
    gql = server.graphql_url
    _, made = await call(
        client,
        gql,
        key,
        CREATE,
        {"input": {"name": f"bench-record-{os.getpid()}", "type": "DYNAMIC", "rule": rules[0][0]}},
    )
    segment = int(made["segment"]["id"])
    done = Edits()
    try:
        for repeat in range(args.repeat):
            rule, hand_written = rules[(repeat + 1) % 2]
            await vacuum_analyze(args.database_url)
            backends = Backends(conn)
            raw_before = await backends.read(own=True)
            raw, entering, exiting = await raw_sets(conn, site, segment, hand_written)
            done.raw_cpu.append(await backends.since(raw_before, own=True))
            await vacuum_analyze(args.database_url)
            last = int(await conn.fetchval("SELECT COALESCE(max(id), 0) FROM membership_changes"))
            pg_before = await backends.read()
            cpu_before = server.cpu_seconds()
            seconds, _ = await call(
                client, gql, key, UPDATE, {"id": str(segment), "input": {"rule": rule}}
            )
            done.cpu.append(server.cpu_seconds() - cpu_before)
            done.service_cpu.append(done.cpu[-1] + await backends.since(pg_before))
            got = await conn.fetchrow(
                "SELECT COALESCE(sum(size) FILTER (WHERE kind = 'ENTERED'), 0) AS entering,"
                " COALESCE(sum(size) FILTER (WHERE kind = 'EXITED'), 0) AS exiting"
                " FROM membership_changes WHERE segment_id = $1 AND id > $2",
                segment,
                last,
            )
            if (int(got["entering"]), int(got["exiting"])) != (entering, exiting):
                raise BenchError(
                    f"rule edit: the service recorded {dict(got)},"
                    f" the hand-written SQL says {entering} entering, {exiting} exiting"
                )
            done.changes.append(entering + exiting)
            done.service.append(seconds)
            done.raw.append(raw)
            say(
                f"  rule edit #{repeat + 1} ({rule!r}): service {seconds:.2f} s, hand-written"
                f" SQL {raw:.2f} s ({entering:,} entering, {exiting:,} exiting); CPU"
                f" {done.service_cpu[-1]:.3f} s (server {done.cpu[-1]:.3f}) against"
                f" {done.raw_cpu[-1]:.3f} s"
            )
    finally:
        await conn.execute("DELETE FROM membership_changes WHERE segment_id = $1", segment)
        await conn.execute("DELETE FROM segment_rule_matches WHERE segment_id = $1", segment)
        await conn.execute("DELETE FROM segment_events WHERE segment_id = $1", segment)
        await conn.execute("DELETE FROM segments WHERE id = $1", segment)
    return done


async def bench(args: argparse.Namespace) -> int:
    import asyncpg

    url: str = args.database_url
    if not is_postgres_url(url):
        raise BenchError("this benchmark runs on PostgreSQL")
    site_ids: dict[str, int] = {}
    for kind, slug in SITES.items():
        summary = await seeder.seed(
            url,
            members=args.members,
            companies=max(args.members // 100, 1),
            segments=SEGMENTS,
            dynamic=SEGMENTS if kind == "dynamic" else 0,
            memberships=args.members,
            site=slug,
            reset=args.reseed and kind == "dynamic",
            quiet=True,
        )
        site_ids[kind] = int(summary["site_id"])
    say(f"VACUUM ANALYZE after seeding: {await vacuum_analyze(url):.1f} s")
    keys = {
        kind: await create_admin_key(url, slug, name="bench-record") for kind, slug in SITES.items()
    }
    conn = await asyncpg.connect(asyncpg_dsn(url))
    # the hand-written SQL (run on this connection) without parallel workers: its CPU is read
    # from its own backend alone, which would leave out a worker's (PostgreSQL 15 plans its
    # FULL JOIN serially anyway; 16 has a parallel one), and the service's statement, which
    # writes, never runs in parallel
    await conn.execute("SET max_parallel_workers_per_gather = 0")
    # the first write builds a site's kept rows: longer than a request may take by default
    env = {"MEMBERSHIP_SWEEPER": "false", "REQUEST_TIMEOUT_SECONDS": "3600"}
    server = start_server(url, env=env, timeout=60.0)
    say(f"server pid {server.pid} at {server.url}")
    rng = random.Random(args.seed)
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(1800.0), trust_env=False) as client:
            gql = server.graphql_url
            for kind in SITES:  # builds the site's kept rows on its first write
                seconds, _ = await call(client, gql, keys[kind], UPSERT, {"members": []})
                say(f"first write on the {kind} site (kept rows built): {seconds:.1f} s")
            records_before = await record_state(conn)
            upserts: dict[str, Upserts] = {}
            changes: list[int] = []
            for what in () if args.edits_only else UPSERTS:
                upserts[what] = done = Upserts()
                for repeat in range(args.repeat):
                    rows = upsert_rows(rng, args.members, args.upsert, what)
                    order = ("plain", "dynamic") if repeat % 2 == 0 else ("dynamic", "plain")
                    cpus: dict[str, tuple[float, float]] = {}
                    for kind in order:
                        await vacuum_analyze(url)
                        before = (await record_state(conn))[0]
                        pg_before = await Backends(conn).read()
                        cpu_before = server.cpu_seconds()
                        seconds, payload = await call(
                            client, gql, keys[kind], UPSERT, {"members": rows}
                        )
                        if payload["updated"] != len(rows):
                            raise BenchError(f"upsert on {kind}: {payload}")
                        served = server.cpu_seconds() - cpu_before
                        used = served + await Backends(conn).since(pg_before)
                        cpus[kind] = (used, served)
                        getattr(done, f"{kind}_cpu").append(used)
                        getattr(done, kind).append(seconds)
                        if kind == "dynamic":
                            done.cpu.append(server.cpu_seconds() - cpu_before)
                            done.changes.append((await record_state(conn))[0] - before)
                    changes.append(done.changes[-1])
                    dyn, plain = cpus["dynamic"], cpus["plain"]
                    say(
                        f"  upsert #{repeat + 1} ({what}): dynamic {done.dynamic[-1]:.2f} s"
                        f" ({done.changes[-1]:,} changes), plain {done.plain[-1]:.2f} s;"
                        f" CPU (the server's) dynamic {dyn[0]:.2f} ({dyn[1]:.2f}),"
                        f" plain {plain[0]:.2f} ({plain[1]:.2f}): {dyn[0] / plain[0]:.2f}x"
                    )

            edits: dict[str, Edits] = {}
            for name, rules in EDITS.items() if args.edits else ():
                edits[name] = await rule_edits(
                    client, server, conn, keys["dynamic"], site_ids["dynamic"], rules, args
                )
                changes.extend(edits[name].changes)
            _, bytes_after = await record_state(conn)
            peak = server.peak_rss_mb()
        median = statistics.median
        table = [
            *(
                {
                    "write": f"upsertMembers of {args.upsert:,}, {what}"
                    f" ({median(u.changes):,.0f} changes)",
                    "service s": median(u.dynamic),
                    "baseline s": median(u.plain),
                    "baseline": f"same call, {SEGMENTS} STATIC segments",
                    "ratio": ratio(median(u.dynamic), median(u.plain)),
                    "target": 2.0,
                    "server CPU s": median(u.cpu),
                    "CPU s": median(u.dynamic_cpu),
                    "baseline CPU s": median(u.plain_cpu),
                    "CPU ratio": ratio(median(u.dynamic_cpu), median(u.plain_cpu)),
                }
                for what, u in upserts.items()
            ),
            *(
                {
                    "write": f"{name} rule edit, {args.members:,} members"
                    f" ({median(e.changes):,.0f} changes)",
                    "service s": median(e.service),
                    "baseline s": median(e.raw),
                    "baseline": "hand-written SQL of the sets",
                    "ratio": ratio(median(e.service), median(e.raw)),
                    "target": 3.0,
                    "server CPU s": median(e.cpu),
                    "CPU s": median(e.service_cpu),
                    "baseline CPU s": median(e.raw_cpu),
                    "CPU ratio": ratio(median(e.service_cpu), median(e.raw_cpu)),
                }
                for name, e in edits.items()
            ),
        ]
        say(
            f"\nthe record's cost to writes, median of {args.repeat} (HTTP end to end; CPU:"
            " server + PostgreSQL for the service and the same call, PostgreSQL for the SQL,"
            " run without parallel workers: max_parallel_workers_per_gather = 0)"
        )
        say(format_table(table))
        say(f"server peak RSS (VmHWM): {peak:.0f} MB")
        written = sum(changes)
        grown = bytes_after - records_before[1]
        if written:
            say(
                f"the record: {written:,} changes added {grown / 1e6:.1f} MB (table and indexes):"
                f" {grown / written:.0f} bytes a change, {grown / written:.0f} MB per million"
            )
        return 0
    finally:
        await conn.close()
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--upsert", type=int, default=10_000, help="members per upsertMembers")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--reseed", action="store_true", help="drop and reseed the database first")
    only = parser.add_mutually_exclusive_group()
    only.add_argument(
        "--edits-only", action="store_true", help="the rule edits alone (no upsertMembers)"
    )
    only.add_argument(
        "--no-edits",
        dest="edits",
        action="store_false",
        help="measure the upserts alone (no rule edits)",
    )
    args = parser.parse_args(argv)
    try:
        return asyncio.run(bench(args))
    except (BenchError, seeder.SeedError) as exc:
        print(f"record: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
