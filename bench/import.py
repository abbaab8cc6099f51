"""Benchmark of imports and exports: a CSV of members through importMembers, beside a raw
COPY + set-based upsert baseline, and a segment's CSV export beside a raw COPY TO.

    python bench/import.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench_import]
                           [--rows 1000000] [--companies 1000] [--repeat 1]

On PostgreSQL (127.0.0.1 only). The database named by the URL is dropped and made again
by the migrations (it must be this benchmark's own), with one site, ``--companies``
companies and an empty segment; the file (id, email, name, company_id and four
attribute columns: tier, points, ratio, vip) is written to a temporary folder first.

- the service: uvicorn on ``app.main:create_app`` in a subprocess (the import worker in it),
  timed from the first byte of the multipart upload of ``importMembers`` (``segmentId``,
  OVERRIDE) to the job read back as SUCCEEDED (polled every 50 ms): the upload streamed to
  disk, the file parsed, members upserted batch by batch, then the OVERRIDE of the segment
  by every imported id, in one transaction;
- the raw baseline: one asyncpg connection (opened before its clock starts), one
  transaction: ``COPY`` of the same file into a temporary staging table, one
  ``INSERT ... SELECT ... ON CONFLICT DO UPDATE`` into members (attributes built with
  ``jsonb_build_object``, the company resolved by a join, the bucket from sha256), then the
  OVERRIDE: a ``DELETE`` of listed members not in the file and one ``INSERT ... SELECT``
  of the listings.

Both start from the same state: no members, an empty segment, after ``VACUUM ANALYZE``.
Each checks its result (members, listings, the job's counts); a difference stops the run.

Then the export: ``GET /export/segments/{id}/members.csv`` of the imported segment,
streamed and counted by this script, beside a raw ``COPY (SELECT ...) TO STDOUT`` of the
same columns. Rows per second for both, and the server's peak RSS (VmHWM, reset before
each measured step where the kernel allows it) for the import and for the export.

Targets: the import within 3x of the raw baseline, the server's peak RSS under 400 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from _common import (
    LOCAL_HOSTS,
    Server,
    asyncpg_dsn,
    create_admin_key,
    format_table,
    is_postgres_url,
    ratio,
    rss_mb,
    start_server,
    vacuum_analyze,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench_import"
SITE = "bench-import"
TARGET_RATIO = 3.0
TARGET_RSS_MB = 400.0
POLL_SECONDS = 0.05

IMPORT = """
mutation($input: ImportMembersInput!) {
  importMembers(input: $input) { job { id status } userErrors { field message code } }
}
"""
JOB = """
query($id: ID!) {
  importJob(id: $id) {
    status rowsRead created updated addedToSegment removedFromSegment problemCount error
    startedAt finishedAt
  }
}
"""


class BenchError(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- the file


TIERS = ("bronze", "silver", "gold", "platinum")


def write_csv(path: Path, rows: int, companies: int) -> int:
    """The members file; returns its size in bytes."""
    width = len(str(rows))
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("id,email,name,company_id,tier,points,ratio,vip\n")
        lines = []
        for i in range(rows):
            mid = f"m{i:0{width}d}"
            lines.append(
                f"{mid},{mid}@example.com,Member {i},c{i % companies:05d},"
                f"{TIERS[i % 4]},{(i * 37) % 10000},{(i % 1000) / 100:.2f},"
                f"{'true' if i % 3 == 0 else 'false'}\n"
            )
            if len(lines) == 10_000:
                f.write("".join(lines))
                lines.clear()
        f.write("".join(lines))
    return path.stat().st_size


# --------------------------------------------------------------------------- the database


def check_local(database_url: str) -> None:
    if not is_postgres_url(database_url):
        raise BenchError("this benchmark runs on PostgreSQL: give a postgres:// URL")
    host = urlsplit(database_url).hostname
    if host is not None and host not in LOCAL_HOSTS:
        raise BenchError(f"only a database on 127.0.0.1 is allowed, not {host!r}")
    name = urlsplit(database_url).path.lstrip("/")
    if "bench" not in name:
        raise BenchError(f"refusing to drop the database {name!r}: its name must hold 'bench'")


async def fresh_database(url: str, companies: int) -> tuple[int, int]:
    """Drop and migrate the database; make the site, companies and a segment: (site, segment)."""
    import asyncpg
    import seed as seeder

    from app.db import create_postgres_database, migrate_database

    await seeder.drop_postgres_database(url)
    await create_postgres_database(url)
    await migrate_database(url)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        site_id = int(
            await conn.fetchval(
                "INSERT INTO sites (slug, name, created_at) VALUES ($1, 'Bench', now())"
                " RETURNING id",
                SITE,
            )
        )
        await conn.execute(
            "INSERT INTO companies (site_id, external_id, name, plan, attributes, created_at,"
            " updated_at) SELECT $1, 'c' || lpad(i::text, 5, '0'), 'Company ' || i, 'pro',"
            " '{}', now(), now() FROM generate_series(0, $2 - 1) AS i",
            site_id,
            companies,
        )
        segment_id = int(
            await conn.fetchval(
                "INSERT INTO segments (site_id, name, type, is_active, salt, created_at,"
                " updated_at) VALUES ($1, 'imported', 'STATIC', TRUE, 0, now(), now())"
                " RETURNING id",
                site_id,
            )
        )
        # the kept counters every segment the service makes has (issue 14)
        await conn.execute(
            "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
            " VALUES ($1, $2, 0, 0)",
            site_id,
            segment_id,
        )
    finally:
        await conn.close()
    return site_id, segment_id


async def empty_members(url: str) -> None:
    """Back to the starting state: no members, listings, events, jobs or membership record."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(
            "TRUNCATE members, segment_members, segment_exclusions, segment_events,"
            " import_jobs, import_job_ids, membership_changes, segment_rule_matches"
        )
        await conn.execute("UPDATE segment_counts SET member_count = 0, company_count = 0")
    finally:
        await conn.close()


async def record_size(url: str) -> tuple[int, int]:
    """(changes, bytes with indexes) of the membership record."""
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        # a row of the record holds up to 4,096 changes
        changes = int(await conn.fetchval("SELECT COALESCE(sum(size), 0) FROM membership_changes"))
        size = int(await conn.fetchval("SELECT pg_total_relation_size('membership_changes')"))
    finally:
        await conn.close()
    return changes, size


async def counts(url: str, segment_id: int) -> tuple[int, int]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        members = int(await conn.fetchval("SELECT count(*) FROM members"))
        listed = int(
            await conn.fetchval(
                "SELECT count(*) FROM segment_members WHERE segment_id = $1", segment_id
            )
        )
    finally:
        await conn.close()
    return members, listed


# --------------------------------------------------------------------------- raw baseline

RAW_STAGING = (
    "CREATE TEMP TABLE _import (id text, email text, name text, company_id text, tier text,"
    " points text, ratio text, vip text) ON COMMIT DROP"
)
RAW_UPSERT = """
INSERT INTO members (site_id, external_id, email, name, company_id, attributes, bucket,
                     created_at, updated_at)
SELECT $1, s.id, NULLIF(s.email, ''), NULLIF(s.name, ''), c.id,
       jsonb_strip_nulls(jsonb_build_object(
         'tier', NULLIF(s.tier, ''), 'points', NULLIF(s.points, '')::bigint,
         'ratio', NULLIF(s.ratio, '')::numeric, 'vip', NULLIF(s.vip, '')::boolean)),
       (('x' || substr(encode(sha256(convert_to(s.id, 'UTF8')), 'hex'), 1, 15))::bit(60)::bigint
         % 10000)::smallint,
       now(), now()
  FROM _import s LEFT JOIN companies c ON c.site_id = $1 AND c.external_id = s.company_id
ON CONFLICT (site_id, external_id) DO UPDATE SET
  email = COALESCE(excluded.email, members.email), name = COALESCE(excluded.name, members.name),
  company_id = COALESCE(excluded.company_id, members.company_id),
  attributes = members.attributes || excluded.attributes, updated_at = excluded.updated_at
"""
RAW_DELETE = """
DELETE FROM segment_members sm WHERE sm.segment_id = $2 AND sm.site_id = $1
   AND NOT EXISTS (SELECT 1 FROM _import s JOIN members m ON m.site_id = $1
                    AND m.external_id = s.id WHERE m.id = sm.member_id)
"""
RAW_LIST = """
INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at)
SELECT $1, $2, m.id, 'IMPORT', now() FROM _import s
  JOIN members m ON m.site_id = $1 AND m.external_id = s.id
ON CONFLICT (segment_id, member_id) DO NOTHING
"""


async def raw_import(url: str, path: Path, site_id: int, segment_id: int) -> dict[str, float]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        steps: dict[str, float] = {}
        started = lap = time.perf_counter()
        async with conn.transaction():
            await conn.execute(RAW_STAGING)
            await conn.copy_to_table("_import", source=str(path), format="csv", header=True)
            steps["copy"] = time.perf_counter() - lap
            lap = time.perf_counter()
            await conn.execute("ANALYZE _import")
            await conn.execute(RAW_UPSERT, site_id)
            steps["upsert"] = time.perf_counter() - lap
            lap = time.perf_counter()
            await conn.execute(RAW_DELETE, site_id, segment_id)
            await conn.execute(RAW_LIST, site_id, segment_id)
            steps["listing"] = time.perf_counter() - lap
        steps["total"] = time.perf_counter() - started
        return steps
    finally:
        await conn.close()


RAW_EXPORT = """
SELECT m.external_id AS id, m.email, m.name, c.external_id AS company_id, sm.source,
       m.attributes
  FROM segment_members sm JOIN members m ON m.id = sm.member_id
  LEFT JOIN companies c ON c.id = m.company_id
 WHERE sm.site_id = {site} AND sm.segment_id = {segment}
 ORDER BY m.id
"""


class _Sink:
    def __init__(self) -> None:
        self.bytes = 0
        self.lines = 0

    async def __call__(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        self.lines += chunk.count(b"\n")


async def raw_export(url: str, site_id: int, segment_id: int) -> tuple[float, int]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
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


# --------------------------------------------------------------------------- the service


def reset_peak_rss(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (Linux >= 4.0); False when not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak(pid: int) -> float:
    from _common import peak_rss_mb

    return peak_rss_mb(pid)


@dataclass
class ServiceImport:
    seconds: float
    upload_seconds: float
    read_seconds: float  # from the start until every row was read and upserted
    job: dict[str, Any]
    peak_rss_mb: float
    rss_before_mb: float
    cpu_seconds: float


def _upload(server: Server, key: str, path: Path, segment_id: int) -> dict[str, Any]:
    operations = {
        "query": IMPORT,
        "variables": {
            "input": {
                "file": None,
                "format": "CSV",
                "segmentId": str(segment_id),
                "mode": "OVERRIDE",
            }
        },
    }
    with path.open("rb") as f, httpx.Client(timeout=600.0, trust_env=False) as client:
        response = client.post(
            server.graphql_url,
            headers={"Authorization": f"Bearer {key}"},
            data={
                "operations": orjson.dumps(operations).decode(),
                "map": orjson.dumps({"0": ["variables.input.file"]}).decode(),
            },
            files={"0": (path.name, f, "text/csv")},
        )
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise BenchError(f"upload failed: HTTP {response.status_code} {body}")
    payload: dict[str, Any] = body["data"]["importMembers"]
    if payload["userErrors"]:
        raise BenchError(f"upload refused: {payload['userErrors']}")
    return payload


async def service_import(
    server: Server, key: str, path: Path, segment_id: int, rows: int
) -> ServiceImport:
    reset_peak_rss(server.pid)
    before = rss_mb(server.pid)
    cpu_before = server.cpu_seconds()
    started = time.perf_counter()
    payload = await asyncio.to_thread(_upload, server, key, path, segment_id)
    uploaded = time.perf_counter()
    job_id = payload["job"]["id"]
    read = 0.0
    async with httpx.AsyncClient(timeout=60.0, trust_env=False) as client:
        while True:
            response = await client.post(
                server.graphql_url,
                json={"query": JOB, "variables": {"id": job_id}},
                headers={"Authorization": f"Bearer {key}"},
            )
            job: dict[str, Any] = response.json()["data"]["importJob"]
            if not read and job["rowsRead"] == rows:
                read = time.perf_counter() - started
            if job["status"] in ("SUCCEEDED", "FAILED"):
                break
            await asyncio.sleep(POLL_SECONDS)
    finished = time.perf_counter()
    if job["status"] != "SUCCEEDED":
        raise BenchError(f"the import job FAILED: {job['error']}\n{server.log()}")
    return ServiceImport(
        seconds=finished - started,
        upload_seconds=uploaded - started,
        read_seconds=read,
        job=job,
        peak_rss_mb=_peak(server.pid),
        rss_before_mb=before,
        cpu_seconds=server.cpu_seconds() - cpu_before,
    )


async def service_export(server: Server, key: str, segment_id: int) -> tuple[float, int, float]:
    """(seconds, data rows, server peak RSS MB) of the streamed CSV export."""
    reset_peak_rss(server.pid)
    lines = 0
    started = time.perf_counter()
    async with (
        httpx.AsyncClient(timeout=600.0, trust_env=False) as client,
        client.stream(
            "GET",
            f"{server.url}/export/segments/{segment_id}/members.csv",
            headers={"Authorization": f"Bearer {key}"},
        ) as response,
    ):
        if response.status_code != 200:
            raise BenchError(f"export: HTTP {response.status_code}")
        async for chunk in response.aiter_bytes():
            lines += chunk.count(b"\n")
    return time.perf_counter() - started, lines - 1, _peak(server.pid)


# --------------------------------------------------------------------------- the run


@dataclass
class Results:
    service: list[ServiceImport] = field(default_factory=list)
    raw: list[dict[str, float]] = field(default_factory=list)
    export: list[tuple[float, int, float]] = field(default_factory=list)
    raw_export: list[tuple[float, int]] = field(default_factory=list)
    record: tuple[int, int] = (0, 0)  # the membership changes the import recorded, their bytes


def check_job(job: dict[str, Any], rows: int) -> None:
    expected = {
        "rowsRead": rows,
        "created": rows,
        "updated": 0,
        "addedToSegment": rows,
        "removedFromSegment": 0,
        "problemCount": 0,
    }
    got = {k: job[k] for k in expected}
    if got != expected:
        raise BenchError(f"the job's counts are {got}, expected {expected}")


async def bench(args: argparse.Namespace) -> int:
    url: str = args.database_url
    check_local(url)
    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = work / "members.csv"
    t = time.perf_counter()
    size = write_csv(path, args.rows, args.companies)
    say(
        f"wrote {path} ({args.rows:,} rows, {size / 1e6:.1f} MB) in {time.perf_counter() - t:.1f} s"
    )
    site_id, segment_id = await fresh_database(url, args.companies)
    key = await create_admin_key(url, SITE, name="bench-import")
    env = {"IMPORT_DIR": str(work / "imports"), "MEMBERSHIP_SWEEPER": "false"}
    server = start_server(url, env=env, timeout=60.0)
    say(f"server pid {server.pid} at {server.url}")
    results = Results()
    try:
        for repeat in range(args.repeat):
            await empty_members(url)
            await vacuum_analyze(url)
            run = await service_import(server, key, path, segment_id, args.rows)
            check_job(run.job, args.rows)
            if await counts(url, segment_id) != (args.rows, args.rows):
                raise BenchError(f"after the service import: {await counts(url, segment_id)}")
            recorded = await record_size(url)
            if recorded[0] != args.rows:  # every member imported entered the segment, once
                raise BenchError(f"the import recorded {recorded[0]:,} membership changes")
            results.record = recorded
            results.service.append(run)
            say(
                f"[{repeat + 1}] service: {run.seconds:.1f} s (upload {run.upload_seconds:.1f} s),"
                f" peak RSS {run.peak_rss_mb:.0f} MB"
            )
            exported = await service_export(server, key, segment_id)
            if exported[1] != args.rows:
                raise BenchError(f"the export has {exported[1]:,} rows, not {args.rows:,}")
            results.export.append(exported)
            raw_exported = await raw_export(url, site_id, segment_id)
            if raw_exported[1] != args.rows:
                raise BenchError(f"the raw export has {raw_exported[1]:,} rows")
            results.raw_export.append(raw_exported)
            say(f"[{repeat + 1}] export: {exported[0]:.1f} s, raw COPY TO {raw_exported[0]:.1f} s")

            await empty_members(url)
            await vacuum_analyze(url)
            raw = await raw_import(url, path, site_id, segment_id)
            if await counts(url, segment_id) != (args.rows, args.rows):
                raise BenchError(f"after the raw import: {await counts(url, segment_id)}")
            results.raw.append(raw)
            say(f"[{repeat + 1}] raw: {raw['total']:.1f} s")
    except BenchError:
        say(f"server log:\n{server.log()}")
        raise
    finally:
        server.stop()
        for p in sorted(work.rglob("*"), reverse=True):
            p.rmdir() if p.is_dir() else p.unlink()
        work.rmdir()
    return report(args.rows, size, results)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def report(rows: int, size: int, r: Results) -> int:
    service = _median([s.seconds for s in r.service])
    upload = _median([s.upload_seconds for s in r.service])
    raw = _median([x["total"] for x in r.raw])
    peak_import = max(s.peak_rss_mb for s in r.service)
    export_s = _median([e[0] for e in r.export])
    raw_export_s = _median([e[0] for e in r.raw_export])
    peak_export = max(e[2] for e in r.export)
    say(
        f"\nimport of {rows:,} rows ({size / 1e6:.0f} MB CSV), OVERRIDE into an empty segment;"
        f" median of {len(r.service)} run(s)"
    )
    table = [
        {
            "what": "service: upload -> SUCCEEDED",
            "seconds": service,
            "rows/s": rows / service,
            "peak RSS MB": peak_import,
            "server CPU s": _median([s.cpu_seconds for s in r.service]),
        },
        {"what": "  upload (streamed to disk)", "seconds": upload},
        {
            "what": "  + read, upsert members",
            "seconds": _median([s.read_seconds for s in r.service]) - upload,
        },
        {
            "what": "  + OVERRIDE of the segment",
            "seconds": service - _median([s.read_seconds for s in r.service]),
        },
        {
            "what": "raw: COPY + upsert + listing",
            "seconds": raw,
            "rows/s": rows / raw,
        },
        {"what": "  COPY", "seconds": _median([x["copy"] for x in r.raw])},
        {"what": "  members upsert", "seconds": _median([x["upsert"] for x in r.raw])},
        {"what": "  OVERRIDE listing", "seconds": _median([x["listing"] for x in r.raw])},
        {"what": "ratio service / raw", "seconds": ratio(service, raw)},
    ]
    say(format_table(table))
    say(f"\nexport of {rows:,} members (GET /export/segments/{{id}}/members.csv)")
    say(
        format_table(
            [
                {
                    "what": "service: streamed CSV",
                    "seconds": export_s,
                    "rows/s": rows / export_s,
                    "peak RSS MB": peak_export,
                },
                {
                    "what": "raw: COPY (SELECT ...) TO STDOUT",
                    "seconds": raw_export_s,
                    "rows/s": rows / raw_export_s,
                },
                {"what": "ratio service / raw", "seconds": ratio(export_s, raw_export_s)},
            ]
        )
    )
    changes, grown = r.record
    if changes:
        say(
            f"the record: the import's {changes:,} changes (each member entering the segment)"
            f" take {grown / 1e6:.1f} MB with their indexes: {grown / changes:.0f} MB per million"
        )
    within = (ratio(service, raw) or 99) <= TARGET_RATIO
    small = max(peak_import, peak_export) < TARGET_RSS_MB
    say(
        f"\ntargets: import within {TARGET_RATIO:g}x of raw: {'met' if within else 'MISSED'};"
        f" server peak RSS under {TARGET_RSS_MB:.0f} MB: {'met' if small else 'MISSED'}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs (median shown)")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.companies < 1 or args.repeat < 1:
        parser.error("--rows, --companies and --repeat must be at least 1")
    try:
        return asyncio.run(bench(args))
    except BenchError as exc:
        print(f"import: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
