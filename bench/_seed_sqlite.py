"""Seeding SQLite: executemany of the generated rows, in chunks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _seed_data import (
    SQLITE,
    Ids,
    _sqlite_ts,
    company_rows,
    member_rows,
    membership_rows,
    plan_segments,
    segment_company_rows,
    segment_exclusion_rows,
)
from _seed_model import TABLES, Plan, Row, SeedError
from _seed_postgres import DYNAMIC_SQL, LARGEST_SQL, _sqlite_sql
from _seed_report import Report, Timer, _check_existing, _summary

from app import db as app_db
from app.db import migrate_database


def sqlite_path(database_url: str) -> str:
    path = app_db.sqlite_path(database_url)
    if not path or path == ":memory:":
        raise SeedError("an in-memory SQLite database cannot be seeded for another process")
    return path


def _scalar(db: sqlite3.Connection, query: str, *params: Any) -> int:
    return int(db.execute(query, params).fetchone()[0])


def _sqlite_insert(
    db: sqlite3.Connection, table: str, chunks: Iterable[list[Row]], report: Report
) -> int:
    columns = TABLES[table]
    statement = (
        f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    )
    timer = Timer()
    count = 0
    with db:  # one transaction per table
        for chunk in chunks:
            db.executemany(statement, chunk)
            count += len(chunk)
    report.step(table, timer.lap(), count)
    return count


def _seed_sqlite_sync(path: str, plan: Plan, report: Report) -> dict[str, Any]:
    timer = Timer()
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # 256 MB
        db.execute("PRAGMA temp_store = MEMORY")
        row = db.execute("SELECT id FROM sites WHERE slug = ?", (plan.site,)).fetchone()
        if row is None:
            with db:
                cur = db.execute(
                    "INSERT INTO sites (slug, name, created_at) VALUES (?, ?, ?)",
                    (plan.site, plan.site.replace("-", " ").title(), _sqlite_ts(datetime.now(UTC))),
                )
            site_id = int(cur.lastrowid or 0)
        else:
            site_id = int(row[0])
        existing = {
            t: _scalar(db, f'SELECT count(*) FROM "{t}" WHERE site_id = ?', site_id) for t in TABLES
        }
        if any(existing.values()):
            largest = [
                {"id": int(r[0]), "name": r[1], "size": int(r[2])}
                for r in db.execute(_sqlite_sql(LARGEST_SQL), (site_id,))
            ]
            dynamic_ids = [int(r[0]) for r in db.execute(_sqlite_sql(DYNAMIC_SQL), (site_id,))]
            return _check_existing(plan, site_id, existing, report, largest, dynamic_ids)
        ids = Ids(**{t: _scalar(db, f'SELECT coalesce(max(id), 0) FROM "{t}"') for t in TABLES})
        now = datetime.now(UTC)
        d = SQLITE
        report.step("site", timer.lap())
        _sqlite_insert(db, "companies", company_rows(plan, site_id, ids, now, d), report)
        _sqlite_insert(db, "members", member_rows(plan, site_id, ids, now, d), report)
        segs = plan_segments(plan, site_id, ids, now, d)
        _sqlite_insert(db, "segments", [segs.rows], report)
        _sqlite_insert(
            db, "segment_members", membership_rows(plan, site_id, ids, segs, now, d), report
        )
        _sqlite_insert(
            db,
            "segment_companies",
            [segment_company_rows(plan, site_id, ids, segs, now, d)],
            report,
        )
        _sqlite_insert(
            db,
            "segment_exclusions",
            [segment_exclusion_rows(plan, site_id, ids, segs, now, d)],
            report,
        )
        timer.lap()
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        report.step("ANALYZE", timer.lap())
    finally:
        db.close()
    return _summary(plan, site_id, report, segs, skipped=False)


def _delete_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)


async def _seed_sqlite(url: str, plan: Plan, reset: bool, report: Report) -> dict[str, Any]:
    path = sqlite_path(url)
    timer = Timer()
    if reset:
        await asyncio.to_thread(_delete_sqlite, path)
    await migrate_database(url)
    report.step("database, migrations", timer.lap())
    return await asyncio.to_thread(_seed_sqlite_sync, path, plan, report)
