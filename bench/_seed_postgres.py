"""Seeding PostgreSQL: COPY of the generated rows, then the indexes and statistics."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from _seed_data import (
    POSTGRES,
    Ids,
    company_rows,
    member_rows,
    membership_rows,
    plan_segments,
    segment_company_rows,
    segment_exclusion_rows,
)
from _seed_model import TABLES, Plan, Row, SeedError
from _seed_report import Report, Timer, _check_existing, _summary

from app.db import asyncpg_dsn, create_postgres_database, migrate_database

# for the summary of a site seeded before
LARGEST_SQL = """SELECT s.id, s.name, count(*) AS size FROM segment_members m
    JOIN segments s ON s.id = m.segment_id WHERE m.site_id = $1
    GROUP BY s.id, s.name ORDER BY size DESC, s.id LIMIT 10"""
DYNAMIC_SQL = "SELECT id FROM segments WHERE site_id = $1 AND type = 'DYNAMIC' ORDER BY id"


def _sqlite_sql(text: str) -> str:
    return text.replace("$1", "?")


def pg_dsn(database_url: str) -> str:
    """An asyncpg DSN from the service's URL (without Tortoise's pool parameters)."""
    return asyncpg_dsn(database_url)


def _pg_name(database_url: str) -> tuple[str, str]:
    """(admin DSN on the ``postgres`` database, database name)."""
    dsn = pg_dsn(database_url)
    base, _, query = dsn.partition("?")
    server, _, name = base.rpartition("/")
    return server + "/postgres" + ("?" + query if query else ""), name


async def drop_postgres_database(database_url: str) -> None:
    import asyncpg

    admin_dsn, name = _pg_name(database_url)
    if name in {"postgres", "template0", "template1", ""}:
        raise SeedError(f"refusing to drop the database {name!r}")
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _pg_without_secondary(conn: Any, table: str) -> list[str]:
    """Drop the table's FK and UNIQUE constraints and plain indexes; return the SQL to restore."""
    constraints = await conn.fetch(
        """SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = $1::regclass AND contype IN ('u', 'f')
           ORDER BY contype DESC, conname""",
        table,
    )
    indexes = await conn.fetch(
        """SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = $1::regclass AND NOT x.indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
                             AND c.conrelid = x.indrelid)
           ORDER BY i.relname""",
        table,
    )
    restore: list[str] = []
    for c in constraints:
        await conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{c["conname"]}"')
    for i in indexes:
        await conn.execute(f'DROP INDEX "{i["name"]}"')
        restore.append(i["def"])
    # unique constraints ('u') first, so that FKs ('f') come last
    for c in sorted(constraints, key=lambda c: c["contype"] != "u"):
        restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
    return restore


async def _pg_copy(
    conn: Any, table: str, chunks: Iterable[list[Row]], report: Report, *, rebuild: bool
) -> int:
    counter = [0]

    def rows() -> Iterator[Row]:
        for chunk in chunks:
            counter[0] += len(chunk)
            yield from chunk

    timer = Timer()
    async with conn.transaction():
        restore = await _pg_without_secondary(conn, table) if rebuild else []
        await conn.copy_records_to_table(table, records=rows(), columns=list(TABLES[table]))
        report.step(table, timer.lap(), counter[0])
        for statement in restore:
            await conn.execute(statement)
        if restore:
            report.step(f"{table} (indexes, keys)", timer.lap())
    return counter[0]


async def _pg_site(conn: Any, slug: str) -> tuple[int, bool]:
    row = await conn.fetchrow("SELECT id FROM sites WHERE slug = $1", slug)
    if row is not None:
        return int(row["id"]), False
    site_id = await conn.fetchval(
        "INSERT INTO sites (slug, name, created_at) VALUES ($1, $2, now()) RETURNING id",
        slug,
        slug.replace("-", " ").title(),
    )
    return int(site_id), True


async def _pg_ids(conn: Any) -> Ids:
    values = {
        t: int(await conn.fetchval(f'SELECT coalesce(max(id), 0) FROM "{t}"')) for t in TABLES
    }
    return Ids(**values)


async def _pg_site_counts(conn: Any, site_id: int) -> dict[str, int]:
    return {
        t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}" WHERE site_id = $1', site_id))
        for t in TABLES
    }


async def _pg_described(conn: Any, site_id: int) -> tuple[list[dict[str, Any]], list[int]]:
    largest = await conn.fetch(LARGEST_SQL, site_id)
    dynamic = await conn.fetch(DYNAMIC_SQL, site_id)
    return (
        [{"id": int(r["id"]), "name": r["name"], "size": int(r["size"])} for r in largest],
        [int(r["id"]) for r in dynamic],
    )


async def _seed_postgres(url: str, plan: Plan, reset: bool, report: Report) -> dict[str, Any]:
    import asyncpg

    timer = Timer()
    if reset:
        await drop_postgres_database(url)
    await create_postgres_database(url)
    await migrate_database(url)
    report.step("database, migrations", timer.lap())

    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        site_id, _ = await _pg_site(conn, plan.site)
        existing = await _pg_site_counts(conn, site_id)
        if any(existing.values()):
            largest, dynamic_ids = await _pg_described(conn, site_id)
            return _check_existing(plan, site_id, existing, report, largest, dynamic_ids)
        ids = await _pg_ids(conn)
        now = datetime.now(UTC)
        d = POSTGRES
        report.step("site", timer.lap())

        companies = company_rows(plan, site_id, ids, now, d)
        await _pg_copy(conn, "companies", companies, report, rebuild=False)
        await _pg_copy(
            conn, "members", member_rows(plan, site_id, ids, now, d), report, rebuild=True
        )
        segs = plan_segments(plan, site_id, ids, now, d)
        await _pg_copy(conn, "segments", [segs.rows], report, rebuild=False)
        await _pg_copy(
            conn,
            "segment_members",
            membership_rows(plan, site_id, ids, segs, now, d),
            report,
            rebuild=True,
        )
        await _pg_copy(
            conn,
            "segment_companies",
            [segment_company_rows(plan, site_id, ids, segs, now, d)],
            report,
            rebuild=False,
        )
        await _pg_copy(
            conn,
            "segment_exclusions",
            [segment_exclusion_rows(plan, site_id, ids, segs, now, d)],
            report,
            rebuild=False,
        )
        timer.lap()
        for table in TABLES:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f'(SELECT greatest(coalesce(max(id), 0), 1) FROM "{table}"))'
            )
        report.step("sequences", timer.lap())
        await conn.execute("VACUUM ANALYZE")
        report.step("VACUUM ANALYZE", timer.lap())
    finally:
        await conn.close()
    return _summary(plan, site_id, report, segs, skipped=False)
