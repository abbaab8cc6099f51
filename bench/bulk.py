"""Benchmark of bulk membership: updateSegmentMembers over HTTP beside a raw asyncpg baseline.

    python bench/bulk.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench]
                         [--members 1000000] [--memberships 5000000] [--ids 100000]
                         [--repeat 1] [--reseed]

On PostgreSQL, seeded by bench/seed.py (reused when it already holds the same counts),
three scenarios, each on fresh segments made for it:

- ADD: ``--ids`` ids to an empty segment;
- OVERRIDE: a segment listing ``--ids`` members, overridden by ``--ids`` ids of which
  half are listed already and half are new;
- DELETE: half of the ``--ids`` members a segment lists, unlisted.

Each scenario runs three times, on three segments prepared identically, after a
``VACUUM ANALYZE`` each so that every run starts from the same state:

- the service: the ``updateSegmentMembers`` mutation sent to a running uvicorn (a
  subprocess of this script on 127.0.0.1), timed end to end: building and JSON-encoding
  the request, the HTTP round trip, decoding the answer;
- raw COPY: one asyncpg connection, one transaction: ``CREATE TEMP TABLE ... ON COMMIT
  DROP``, ``copy_records_to_table`` of the ids, then the set-based statement(s) of the
  same change (ADD: one ``INSERT ... ON CONFLICT DO NOTHING``; OVERRIDE: a ``DELETE`` of
  the listed members not in the input, then that ``INSERT``; DELETE: one ``DELETE``);
- raw unnest: the same statements over ``unnest($1::text[])`` instead of a temp table.

(The raw connections are opened before their clock starts, as the server's pool is.)
The service also records each change of membership (issue 14: one row of
``membership_changes`` a member entering or leaving, in the same transaction), the raw
baseline does not: the target holds the service *with* its records to 2x the raw listing.
The service's counts must be exactly the expected ones, so must its records, the
baselines' row counts the same, and the three segments must end with the same members;
any difference stops the run with an error. The table shows each time's median over
``--repeat`` runs and the ratio service / raw; the target is at most 2x. Below it: the
server's peak RSS (VmHWM, reset before each call where the kernel allows), the CPU seconds
the server process used during each call, with its PostgreSQL backends' (read from /proc
when PostgreSQL is local) beside the raw COPY's backend and this script's (the machine is
shared and loaded: CPU moves far less with the load than the wall clock), and the bytes
the record grew by (table and indexes) per million changes.

Before the clock starts anything, one untimed dry run of the full ADD warms the
server (schema, connection pool) and the database's caches, so that whichever run goes
first is not the one paying for cold pages; then one real ADD of one id builds the site's
kept rule matches and counters (a site's first membership write does), untimed.

The segments (and their audit events, and the API key) are deleted at the end, and
the server is stopped whatever happens. Only 127.0.0.1 is contacted.
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
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import seed as seeder
from _common import (
    LOCAL_HOSTS,
    Server,
    asyncpg_dsn,
    cpu_seconds,
    create_admin_key,
    format_table,
    is_postgres_url,
    peak_rss_mb,
    ratio,
    rss_mb,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench"
DEFAULT_MAX_BULK_IDS = 100_000  # app.settings.Settings.max_bulk_ids
TARGET_RATIO = 2.0
KEY_NAME = "bench-bulk"
PREFIX = "bench-bulk"

MUTATION = """
mutation Bulk($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) {
    added removed unchanged unknownCount userErrors { code message }
  }
}
"""


class BenchError(Exception):
    """The benchmark cannot go on: a wrong count, a failed request, a bad argument."""


# --------------------------------------------------------------------------- scenarios


@dataclass(frozen=True)
class Expected:
    added: int
    removed: int
    unchanged: int
    unknown_count: int
    size: int  # the segment's listed members after the change


@dataclass(frozen=True)
class Scenario:
    name: str
    mode: str  # ADD | OVERRIDE | DELETE
    prefill: list[str]  # the external ids the segment lists before the change
    ids: list[str]  # the change's input
    expected: Expected

    def raw_counts(self) -> tuple[int, int]:
        """(inserted, deleted) rows the raw baseline must report."""
        return self.expected.added, self.expected.removed


def make_scenarios(members: int, n: int, rng_seed: int = 7) -> list[Scenario]:
    """The three scenarios over n + n/2 distinct members picked at random, ids in random order."""
    half = n // 2
    if n < 2:
        raise BenchError("--ids must be at least 2")
    if n + half > members:
        raise BenchError(f"--ids {n:,} needs {n + half:,} members, the seed has {members:,}")
    rng = random.Random(rng_seed)
    picked = [
        seeder.member_external_id(i, members) for i in rng.sample(range(1, members + 1), n + half)
    ]
    listed, new = picked[:n], picked[n:]  # listed: what OVERRIDE's and DELETE's segments hold
    override = listed[:half] + new
    rng.shuffle(override)
    return [
        Scenario("ADD", "ADD", [], list(listed), Expected(n, 0, 0, 0, n)),
        Scenario(
            "OVERRIDE",
            "OVERRIDE",
            list(listed),
            override,
            Expected(len(new), n - half, half, 0, half + len(new)),
        ),
        Scenario(
            "DELETE",
            "DELETE",
            list(listed),
            rng.sample(listed, half),
            Expected(0, half, 0, 0, n - half),
        ),
    ]


# --------------------------------------------------------------------------- the database


def _count(status: str) -> int:
    """Rows from a command status: 'INSERT 0 n', 'DELETE n'."""
    return int(status.rsplit(" ", 1)[-1])


class Db:
    """This script's own asyncpg connection for preparing, checking and cleaning up."""

    def __init__(self, conn: Any, site_id: int) -> None:
        self.conn = conn
        self.site_id = site_id
        self.segments: list[int] = []

    async def backends_cpu(self) -> dict[int, float]:
        """CPU seconds so far of the database's client backends but this connection (the
        server's pool), read from /proc; empty when PostgreSQL runs elsewhere."""
        rows = await self.conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
        )
        try:
            return {int(r["pid"]): cpu_seconds(int(r["pid"])) for r in rows}
        except (OSError, IndexError, ValueError):
            return {}

    async def backends_cpu_since(self, before: dict[int, float]) -> float:
        """CPU seconds the server's backends used since ``before`` (NaN if unreadable)."""
        now = await self.backends_cpu()
        if not now:
            return float("nan")
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())

    async def new_segment(self, name: str, prefill: Sequence[str]) -> int:
        pk = int(
            await self.conn.fetchval(
                "INSERT INTO segments (site_id, name, description, type, is_active, salt,"
                " created_at, updated_at)"
                " VALUES ($1, $2, 'bench/bulk.py', 'STATIC', TRUE, 0, now(), now()) RETURNING id",
                self.site_id,
                name,
            )
        )
        self.segments.append(pk)
        # the kept counter every segment the service makes has (issue 14)
        await self.conn.execute(
            "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
            " VALUES ($1, $2, $3, 0)",
            self.site_id,
            pk,
            len(prefill),
        )
        if prefill:
            status = await self.conn.execute(
                "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at)"
                " SELECT $1, $2, m.id, 'MANUAL', now() FROM unnest($3::text[]) AS t(external_id)"
                " JOIN members m ON m.site_id = $1 AND m.external_id = t.external_id",
                self.site_id,
                pk,
                list(prefill),
            )
            if _count(status) != len(prefill):
                raise BenchError(f"prefilled {_count(status):,} of {len(prefill):,} members")
        return pk

    async def size(self, segment: int) -> int:
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM segment_members WHERE segment_id = $1", segment
            )
        )

    async def differing(self, a: int, b: int) -> int:
        """How many members one segment lists and the other does not."""
        return int(
            await self.conn.fetchval(
                "SELECT count(*) FROM (SELECT member_id FROM segment_members WHERE segment_id = $1)"
                " x FULL JOIN (SELECT member_id FROM segment_members WHERE segment_id = $2) y"
                " USING (member_id) WHERE x.member_id IS NULL OR y.member_id IS NULL",
                a,
                b,
            )
        )

    async def records(self, segment: int) -> int:
        """How many membership changes the service recorded for the segment."""
        return int(
            await self.conn.fetchval(
                "SELECT COALESCE(sum(size), 0) FROM membership_changes WHERE segment_id = $1",
                segment,
            )
        )

    async def record_bytes(self) -> int:
        """The size of the record on disk, its indexes included."""
        return int(await self.conn.fetchval("SELECT pg_total_relation_size('membership_changes')"))

    async def cleanup(self) -> None:
        if self.segments:
            await self.conn.execute(
                "DELETE FROM membership_changes WHERE segment_id = ANY($1::bigint[])",
                self.segments,
            )
            await self.conn.execute(
                "DELETE FROM segment_events WHERE segment_id = ANY($1::bigint[])", self.segments
            )
            await self.conn.execute(
                "DELETE FROM segments WHERE id = ANY($1::bigint[])", self.segments
            )
            self.segments.clear()
        await self.conn.execute(
            "DELETE FROM api_keys WHERE site_id = $1 AND name = $2", self.site_id, key_name()
        )


def key_name() -> str:
    return f"{KEY_NAME}-{os.getpid()}"


# --------------------------------------------------------------------------- the raw baseline

_RESOLVED = "{src} JOIN members m ON m.site_id = $1 AND m.external_id = t.external_id"
_INSERT = (
    "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at)"
    " SELECT $1, $2, m.id, 'MANUAL', now() FROM " + _RESOLVED + " ON CONFLICT (segment_id,"
    " member_id) DO NOTHING"
)
_DELETE_OUTSIDE = (
    "DELETE FROM segment_members sm WHERE sm.segment_id = $2 AND sm.site_id = $1"
    " AND NOT EXISTS (SELECT 1 FROM " + _RESOLVED + " WHERE m.id = sm.member_id)"
)
_DELETE_IN = (
    "DELETE FROM segment_members sm WHERE sm.segment_id = $2 AND sm.site_id = $1"
    " AND sm.member_id IN (SELECT m.id FROM " + _RESOLVED + ")"
)
_TEMP = "_bench_ids"


def raw_statements(mode: str, src: str) -> list[tuple[str, str]]:
    """(kind, SQL) of the change, with ``src`` the input ids as ``t(external_id)``."""
    if mode == "ADD":
        plan = [("insert", _INSERT)]
    elif mode == "OVERRIDE":
        plan = [("delete", _DELETE_OUTSIDE), ("insert", _INSERT)]
    elif mode == "DELETE":
        plan = [("delete", _DELETE_IN)]
    else:
        raise BenchError(f"unknown mode {mode}")
    return [(kind, text.format(src=src)) for kind, text in plan]


async def raw_change(
    dsn: str, site_id: int, segment: int, mode: str, ids: list[str], *, variant: str
) -> tuple[float, int, int, float]:
    """The change by hand, on its own connection; returns (seconds, inserted, deleted, CPU
    seconds: its PostgreSQL backend's and this script's, NaN when the backend is elsewhere)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        inserted = deleted = 0
        pid = int(await conn.fetchval("SELECT pg_backend_pid()"))
        try:
            backend_before = cpu_seconds(pid)
        except (OSError, IndexError, ValueError):
            backend_before = float("nan")
        own_before = time.process_time()
        started = time.perf_counter()
        async with conn.transaction():
            if variant == "copy":
                await conn.execute(
                    f"CREATE TEMP TABLE {_TEMP} (external_id text NOT NULL) ON COMMIT DROP"
                )
                await conn.copy_records_to_table(
                    _TEMP, records=[(i,) for i in ids], columns=["external_id"]
                )
                statements = raw_statements(mode, f"{_TEMP} t")
                params: tuple[Any, ...] = (site_id, segment)
            else:
                statements = raw_statements(mode, "unnest($3::text[]) AS t(external_id)")
                params = (site_id, segment, ids)
            for kind, text in statements:
                n = _count(await conn.execute(text, *params))
                if kind == "insert":
                    inserted += n
                else:
                    deleted += n
        seconds = time.perf_counter() - started
        try:
            backend = cpu_seconds(pid) - backend_before
        except (OSError, IndexError, ValueError):
            backend = float("nan")
        return seconds, inserted, deleted, backend + time.process_time() - own_before
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the service


def reset_peak_rss(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


@dataclass
class ServiceRun:
    seconds: float
    encode_seconds: float
    payload: dict[str, Any]
    cpu_seconds: float
    rss_before_mb: float
    peak_rss_mb: float
    request_bytes: int


async def service_change(
    client: httpx.AsyncClient,
    server: Server,
    key: str,
    segment: int,
    mode: str,
    ids: list[str],
    *,
    dry_run: bool = False,
) -> ServiceRun:
    """One updateSegmentMembers call, timed from building the body to the decoded answer."""
    reset_peak_rss(server.pid)
    rss_before = rss_mb(server.pid)
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    variables = {
        "input": {"segmentId": str(segment), "memberIds": ids, "mode": mode, "dryRun": dry_run}
    }
    body = orjson.dumps({"query": MUTATION, "variables": variables})
    encoded = time.perf_counter()
    try:
        response = await client.post(
            server.graphql_url,
            content=body,
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        data = orjson.loads(response.content)
    except (httpx.HTTPError, orjson.JSONDecodeError) as exc:
        raise BenchError(f"updateSegmentMembers failed: {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - started
    cpu = server.cpu_seconds() - cpu_before
    peak = peak_rss_mb(server.pid)
    if response.status_code != 200 or not isinstance(data, dict) or data.get("errors"):
        raise BenchError(f"HTTP {response.status_code}: {response.text[:2000]}")
    payload = data["data"]["updateSegmentMembers"]
    if payload["userErrors"]:
        raise BenchError(f"userErrors: {payload['userErrors']}")
    return ServiceRun(seconds, encoded - started, payload, cpu, rss_before, peak, len(body))


# --------------------------------------------------------------------------- a run


@dataclass
class Measured:
    service: list[float] = field(default_factory=list)
    copy: list[float] = field(default_factory=list)
    unnest: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    # server + its PostgreSQL backends; raw COPY's backend + this script
    service_cpu: list[float] = field(default_factory=list)
    copy_cpu: list[float] = field(default_factory=list)
    peak_rss: list[float] = field(default_factory=list)
    rss_before: list[float] = field(default_factory=list)
    encode: list[float] = field(default_factory=list)
    request_bytes: int = 0
    records: int = 0  # membership changes recorded by the service's calls
    record_bytes: int = 0  # what they added to membership_changes (table and indexes)


def check_payload(scenario: Scenario, payload: dict[str, Any]) -> None:
    e = scenario.expected
    want = {
        "added": e.added,
        "removed": e.removed,
        "unchanged": e.unchanged,
        "unknownCount": e.unknown_count,
    }
    got = {k: payload.get(k) for k in want}
    if got != want:
        raise BenchError(f"{scenario.name}: the service answered {got}, expected {want}")


def say(message: str) -> None:
    print(message, flush=True)


async def run_scenario(
    scenario: Scenario,
    repeat: int,
    *,
    db: Db,
    dsn: str,
    url: str,
    client: httpx.AsyncClient,
    server: Server,
    key: str,
    measured: Measured,
) -> None:
    tag = f"{PREFIX}-{os.getpid()}-{scenario.name.lower()}-{repeat}"
    service_seg = await db.new_segment(f"{tag}-service", scenario.prefill)
    copy_seg = await db.new_segment(f"{tag}-copy", scenario.prefill)
    unnest_seg = await db.new_segment(f"{tag}-unnest", scenario.prefill)

    vacuum = await vacuum_analyze(url)
    bytes_before = await db.record_bytes()
    pg_before = await db.backends_cpu()
    run = await service_change(client, server, key, service_seg, scenario.mode, scenario.ids)
    service_cpu = run.cpu_seconds + await db.backends_cpu_since(pg_before)
    measured.record_bytes += await db.record_bytes() - bytes_before
    check_payload(scenario, run.payload)
    size = await db.size(service_seg)
    if size != scenario.expected.size:
        raise BenchError(f"{scenario.name}: the service left {size:,} members listed")
    records = await db.records(service_seg)
    # the bench's segments list no company, exclude no one and have no rule: every listing
    # made or removed is one change of membership
    if records != scenario.expected.added + scenario.expected.removed:
        raise BenchError(f"{scenario.name}: the service recorded {records:,} changes")
    measured.records += records

    times: dict[str, float] = {}
    cpus: dict[str, float] = {}
    for variant, segment in (("copy", copy_seg), ("unnest", unnest_seg)):
        vacuum += await vacuum_analyze(url)
        seconds, inserted, deleted, cpus[variant] = await raw_change(
            dsn, db.site_id, segment, scenario.mode, scenario.ids, variant=variant
        )
        if (inserted, deleted) != scenario.raw_counts():
            raise BenchError(
                f"{scenario.name}: raw {variant} inserted {inserted:,} and deleted {deleted:,},"
                f" expected {scenario.raw_counts()}"
            )
        differing = await db.differing(service_seg, segment)
        if differing:
            raise BenchError(
                f"{scenario.name}: the service's and raw {variant}'s segments differ"
                f" by {differing:,} members"
            )
        times[variant] = seconds

    measured.service.append(run.seconds)
    measured.copy.append(times["copy"])
    measured.unnest.append(times["unnest"])
    measured.cpu.append(run.cpu_seconds)
    measured.service_cpu.append(service_cpu)
    measured.copy_cpu.append(cpus["copy"])
    measured.peak_rss.append(run.peak_rss_mb)
    measured.rss_before.append(run.rss_before_mb)
    measured.encode.append(run.encode_seconds)
    measured.request_bytes = run.request_bytes
    say(
        f"  {scenario.name:<8} #{repeat + 1}: service {run.seconds:6.2f} s"
        f" (server CPU {run.cpu_seconds:5.2f} s, peak RSS {run.peak_rss_mb:5.0f} MB),"
        f" raw COPY {times['copy']:6.2f} s, raw unnest {times['unnest']:6.2f} s;"
        f" CPU service {service_cpu:5.2f} s, raw COPY {cpus['copy']:5.2f} s"
        f"  [3x VACUUM ANALYZE {vacuum:4.1f} s]"
    )


async def warm_up(
    db: Db, client: httpx.AsyncClient, server: Server, key: str, dsn: str, ids: list[str]
) -> float:
    """An untimed dry run of the full ADD, and the raw lookup of the same ids."""
    import asyncpg

    started = time.perf_counter()
    segment = await db.new_segment(f"{PREFIX}-{os.getpid()}-warmup", [])
    run = await service_change(client, server, key, segment, "ADD", ids, dry_run=True)
    if run.payload["added"] != len(ids):
        raise BenchError(f"warm-up: the dry run answered {run.payload}")
    # one real change: a site written for the first time has its kept rows (rule matches,
    # counters) built from scratch by that write, which is not what is measured here
    await service_change(client, server, key, segment, "ADD", ids[:1])
    conn = await asyncpg.connect(dsn)
    try:
        await conn.fetchval(
            "SELECT count(*) FROM unnest($2::text[]) AS t(external_id)"
            " JOIN members m ON m.site_id = $1 AND m.external_id = t.external_id",
            db.site_id,
            ids,
        )
    finally:
        await conn.close()
    return time.perf_counter() - started


def report(
    scenarios: list[Scenario], results: dict[str, Measured], repeat: int, overall_peak: float
) -> bool:
    """Print the tables; True when every scenario is within the target."""
    median = statistics.median
    rows = []
    within = True
    for s in scenarios:
        m = results[s.name]
        service, copy, unnest = median(m.service), median(m.copy), median(m.unnest)
        r = ratio(service, copy)
        ok = r is not None and r <= TARGET_RATIO
        within = within and ok
        rows.append(
            {
                "scenario": s.name,
                "ids": len(s.ids),
                "service s": service,
                "raw COPY s": copy,
                "ratio": r,
                "raw unnest s": unnest,
                "ratio unnest": ratio(service, unnest),
                f"<= {TARGET_RATIO:g}x": ok,
                "records": m.records // max(len(m.service), 1),
            }
        )
    runs = "median of " + (f"{repeat} runs" if repeat > 1 else "1 run")
    say(f"\nbulk membership, {runs} (service: HTTP GraphQL end to end; raw: asyncpg)")
    say(format_table(rows))
    server_rows = [
        {
            "scenario": s.name,
            "request MB": results[s.name].request_bytes / 1e6,
            "encode s": median(results[s.name].encode),
            "server CPU s": median(results[s.name].cpu),
            "+ PostgreSQL s": median(results[s.name].service_cpu),
            "raw COPY CPU s": median(results[s.name].copy_cpu),
            "CPU ratio": ratio(
                median(results[s.name].service_cpu), median(results[s.name].copy_cpu)
            ),
            "RSS before MB": median(results[s.name].rss_before),
            "peak RSS MB": max(results[s.name].peak_rss),
        }
        for s in scenarios
    ]
    say("\nserver process during each call (peak RSS: VmHWM, the highest over the runs)")
    say(format_table(server_rows))
    say(f"server peak RSS over the whole run (VmHWM): {overall_peak:.0f} MB")
    changes = sum(results[s.name].records for s in scenarios)
    grown = sum(results[s.name].record_bytes for s in scenarios)
    if changes:
        say(
            f"the record: {changes:,} changes added {grown / 1e6:.1f} MB"
            f" (table and indexes): {grown / changes * 1e6 / 1e6:.0f} MB per million changes"
        )
    return within


# --------------------------------------------------------------------------- main


def check_local(database_url: str) -> None:
    if not is_postgres_url(database_url):
        raise BenchError("this benchmark runs on PostgreSQL: give a postgres:// URL")
    host = urlsplit(database_url).hostname
    if host is not None and host not in LOCAL_HOSTS:
        raise BenchError(f"only a database on 127.0.0.1 is allowed, not {host!r}")


async def bench(args: argparse.Namespace) -> int:
    import asyncpg

    url: str = args.database_url
    check_local(url)
    summary = await seeder.seed(
        url, members=args.members, memberships=args.memberships, reset=args.reseed
    )
    site_id = int(summary["site_id"])
    seconds = await vacuum_analyze(url)
    say(f"VACUUM ANALYZE after seeding: {seconds:.1f} s")
    scenarios = make_scenarios(args.members, args.ids)
    if args.only:
        scenarios = [s for s in scenarios if s.name in args.only]

    dsn = asyncpg_dsn(url)
    db = Db(await asyncpg.connect(dsn), site_id)
    server: Server | None = None
    overall_peak = 0.0
    try:
        key = await create_admin_key(url, str(summary["site"]), name=key_name())
        # the sweeper would sweep during the timed calls: off for this run
        env = {
            "MAX_BULK_IDS": str(max(args.ids, DEFAULT_MAX_BULK_IDS)),
            "MEMBERSHIP_SWEEPER": "false",
            # the warm-up's first write builds the site's kept rows: longer than a request
            "REQUEST_TIMEOUT_SECONDS": "3600",
        }
        server = start_server(url, env=env, timeout=60.0)
        say(f"server pid {server.pid} at {server.url}")
        limits = httpx.Timeout(600.0, connect=10.0)
        async with httpx.AsyncClient(timeout=limits, trust_env=False) as client:
            seconds = await warm_up(db, client, server, key, dsn, scenarios[0].ids)
            say(f"warm-up (dry run of the ADD, raw lookup): {seconds:.1f} s")
            overall_peak = server.peak_rss_mb()
            results = {s.name: Measured() for s in scenarios}
            for repeat in range(args.repeat):
                for scenario in scenarios:
                    await run_scenario(
                        scenario,
                        repeat,
                        db=db,
                        dsn=dsn,
                        url=url,
                        client=client,
                        server=server,
                        key=key,
                        measured=results[scenario.name],
                    )
                    overall_peak = max(overall_peak, *results[scenario.name].peak_rss)
        within = report(scenarios, results, args.repeat, overall_peak)
        verdict = "met" if within else "MISSED"
        say(f"\ntarget (service within {TARGET_RATIO:g}x of raw COPY): {verdict}")
        return 0
    except BenchError:
        if server is not None:
            say(f"server log:\n{server.log()}")
        raise
    finally:
        try:
            await db.cleanup()
        finally:
            await db.conn.close()
            if server is not None:
                server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--members", type=int, default=1_000_000, help="members to seed")
    parser.add_argument("--memberships", type=int, default=5_000_000, help="listings to seed")
    parser.add_argument("--ids", type=int, default=100_000, help="ids per change")
    parser.add_argument("--repeat", type=int, default=1, help="runs per scenario (median shown)")
    parser.add_argument("--reseed", action="store_true", help="drop and reseed the database first")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=["ADD", "OVERRIDE", "DELETE"],
        help="run only these scenarios",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    try:
        return asyncio.run(bench(args))
    except (BenchError, seeder.SeedError) as exc:
        print(f"bulk: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
