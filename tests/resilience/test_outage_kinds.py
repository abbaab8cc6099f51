"""Which database errors are outages (503 SERVICE_UNAVAILABLE with Retry-After, the write
to be retried) rather than the server's own failure (a masked INTERNAL): a full disk is one,
on SQLite and on PostgreSQL, as a database that cannot be reached is."""

from __future__ import annotations

import sqlite3

import asyncpg
import pytest

from app.db import is_outage


def _raised_from(cause: BaseException) -> Exception:
    """An error as a caller meets it: raised from the driver's (Tortoise wraps them)."""
    try:
        try:
            raise cause
        except BaseException as exc:
            raise RuntimeError("the statement failed") from exc
    except RuntimeError as wrapped:
        return wrapped


@pytest.mark.parametrize(
    "cause",
    [
        sqlite3.OperationalError("database or disk is full"),
        sqlite3.OperationalError("database is locked"),
        asyncpg.DiskFullError("could not extend file: No space left on device"),
        ConnectionRefusedError("refused"),
    ],
)
def test_a_full_disk_is_an_outage_like_an_unreachable_database(cause: BaseException) -> None:
    assert is_outage(_raised_from(cause))


@pytest.mark.parametrize(
    "cause",
    [
        sqlite3.OperationalError("no such table: segments"),
        sqlite3.IntegrityError("UNIQUE constraint failed: segments.name"),
        asyncpg.UniqueViolationError("duplicate key value"),
    ],
)
def test_the_server_s_own_errors_are_not_outages(cause: BaseException) -> None:
    assert not is_outage(_raised_from(cause))
