"""Processes starting together on PostgreSQL: each runs `segments migrate` (create the
database if missing, then migrate it), and none crashes on another's work. On databases of
their own (made and dropped here), on both suites' runs as the CLI's PostgreSQL test."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from app.db import asyncpg_dsn, is_postgres_url
from tests.conftest import TEST_DATABASE_URL
from tests.processes import ROOT

PROCESSES = 4


@pytest.fixture
async def fresh_url() -> AsyncIterator[str]:
    """The URL of a database that does not exist yet, on the PostgreSQL server of the test
    database (the local one `make test` starts on the SQLite run); dropped after."""
    base = (
        TEST_DATABASE_URL.split("?", 1)[0].rsplit("/", 1)[0]
        if is_postgres_url(TEST_DATABASE_URL)
        else "postgres://postgres@127.0.0.1:5432"
    )
    name = f"segments_test_g_{uuid.uuid4().hex[:10]}"
    yield f"{base}/{name}"
    admin = await asyncpg.connect(asyncpg_dsn(base + "/postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _migrate_together(url: str) -> list[tuple[int, str]]:
    """`segments migrate` in PROCESSES processes started at once: each one's code and stderr."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "app.cli",
            "migrate",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for process in processes:
        _, stderr = await process.communicate()
        results.append((process.returncode or 0, stderr.decode()))
    return results


async def _tables(url: str) -> int:
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        return int(
            await connection.fetchval(
                "SELECT count(*) FROM pg_tables WHERE tablename = 'segment_events'"
            )
        )
    finally:
        await connection.close()


async def test_processes_creating_the_database_together_all_succeed(fresh_url: str) -> None:
    # when several processes start together on a database that does not exist
    results = await _migrate_together(fresh_url)

    # then every one succeeds, one of them says it created it, and the schema is there once
    assert [code for code, _ in results] == [0] * PROCESSES, results
    assert sum("Created PostgreSQL database" in err for _, err in results) == 1, results
    assert await _tables(fresh_url) == 1


async def test_processes_migrating_an_empty_database_together_all_succeed(
    fresh_url: str,
) -> None:
    # given an empty database
    base, _, name = fresh_url.rpartition("/")
    admin = await asyncpg.connect(asyncpg_dsn(base + "/postgres"))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()

    # when several processes start together on it, then every one migrates without error
    results = await _migrate_together(fresh_url)
    assert [code for code, _ in results] == [0] * PROCESSES, results
    assert await _tables(fresh_url) == 1
