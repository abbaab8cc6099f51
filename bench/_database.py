"""The benchmarks' database: made afresh, an ADMIN key, VACUUM ANALYZE; URLs read by app.db."""

from __future__ import annotations

import asyncio
import sqlite3
import time

from app.db import asyncpg_dsn, is_postgres_url, sqlite_path


async def fresh_database(url: str) -> None:
    """Drop (PostgreSQL: only a database whose name contains 'bench'), create and migrate."""
    from app.db import create_postgres_database, migrate_database

    if is_postgres_url(url):
        import asyncpg

        base, _, name = asyncpg_dsn(url, keep_options=False).rpartition("/")
        if "bench" not in name:
            raise SystemExit(f"refusing to drop database {name!r}: its name must contain 'bench'")
        admin = await asyncpg.connect(base + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
        await create_postgres_database(url)
    await migrate_database(url)


async def create_admin_key(database_url: str, site_slug: str, name: str = "bench-admin") -> str:
    """Make an ADMIN API key for the site through the auth service; returns the secret."""
    from tortoise import Tortoise

    from app.auth.models import Role
    from app.auth.service import create_key, get_site_by_slug
    from app.db import tortoise_config

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        site = await get_site_by_slug(site_slug)
        _, secret = await create_key(site_id=site.id, name=name, role=Role.ADMIN)
    finally:
        await Tortoise.close_connections()
    return secret


def _sqlite_analyze(path: str) -> None:
    db = sqlite3.connect(path)
    try:
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


async def vacuum_analyze(database_url: str) -> float:
    """VACUUM ANALYZE on PostgreSQL (ANALYZE on SQLite); returns the seconds it took."""
    started = time.perf_counter()
    if is_postgres_url(database_url):
        import asyncpg

        conn = await asyncpg.connect(asyncpg_dsn(database_url))
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    else:
        path = sqlite_path(database_url)
        await asyncio.to_thread(_sqlite_analyze, path)
    return time.perf_counter() - started
