"""A SQLite connection that cannot be opened (a file that is not a database; a full disk,
which refuses the WAL journal the same way) is an error for the statement that asked, not a
hang for every later one: the connection's lock is let go, the half-made connection is
dropped, and once the file is fixed the next statement opens a whole one. (Tortoise's own
client kept the lock, so `segments serve` and `segments migrate` hung at their migrations,
silently and for good, even after the disk was freed.) These tests make their own SQLite
file, whatever database the suite runs on."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from app.db import UnicodeSqliteClient
from tests.test_cli import ROOT

# far longer than an answer takes; a hang is what these tests catch
GENEROUS_SECONDS = 20


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"this is not a database, " * 400)


async def test_a_connection_that_cannot_be_opened_fails_each_statement_then_recovers(
    tmp_path: Path,
) -> None:
    # given a client on a file that is not a database
    path = tmp_path / "broken.sqlite3"
    _not_a_database(path)
    client = UnicodeSqliteClient(str(path), connection_name="broken")
    try:
        # when statements run on it, then each fails, and none waits for the one before
        for _ in range(2):
            try:
                await asyncio.wait_for(client.execute_query("SELECT 1"), GENEROUS_SECONDS)
            except TimeoutError:
                raise AssertionError("the statement waited for a lock never let go") from None
            except Exception as error:
                assert "not a database" in str(error)
            else:
                raise AssertionError("a statement on a file that is not a database answered")

        # and once the file is a database again, the next statement opens a whole connection
        path.unlink()
        _, rows = await asyncio.wait_for(
            client.execute_query("PRAGMA foreign_keys"), GENEROUS_SECONDS
        )
        assert rows[0][0] == 1
        _, rows = await client.execute_query("PRAGMA journal_mode")
        assert rows[0][0] == "wal"
    finally:
        await client.close()


def test_migrate_on_a_file_that_is_not_a_database_fails_instead_of_hanging(
    tmp_path: Path,
) -> None:
    # given a DATABASE_URL naming a file that is not a database
    path = tmp_path / "broken.sqlite3"
    _not_a_database(path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL=f"sqlite://{path}", PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")

    # when `segments migrate` runs on it
    try:
        result = subprocess.run(
            [sys.executable, "-m", "app.cli", "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=GENEROUS_SECONDS,
        )
    except subprocess.TimeoutExpired:
        raise AssertionError("segments migrate hung on a file that is not a database") from None

    # then it stops with an error saying so
    assert result.returncode != 0
    assert "file is not a database" in result.stderr
