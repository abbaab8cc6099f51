"""The ORM configuration shared by the app, migrations and tests, and dialect helpers.

Raw SQL in this project is written with ``$1``-style placeholders; ``sql()`` rewrites
them for SQLite. Every other difference between the two backends lives here too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.config_generator import expand_db_url

MODEL_MODULES = [
    "app.auth.models",
    "app.members.models",
    "app.companies.models",
    "app.segments.models",
    "app.memberships.models",
    "app.events.models",
    "app.idempotency.models",
    "app.flags.models",
    "app.email.models",
    "app.jobs.models",
    "app.personas.models",
]

_PLACEHOLDER = re.compile(r"\$(\d+)")


def normalize_url(url: str) -> str:
    """Accept postgresql:// and the pool size defaults a server needs."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://") and "maxsize=" not in url:
        url += ("&" if "?" in url else "?") + "minsize=2&maxsize=20"
    return url


async def _keep_session(connection: Any) -> None:
    """Pool release without asyncpg's reset query: no code here leaves session state behind
    (no SET without its undo, no LISTEN or advisory lock on pooled connections), and the
    reset would cost a round trip per query, as much as a whole lookup."""


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = normalize_url(database_url)
    connection: Any = url
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").split("?", 1)[0]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    else:
        connection = expand_db_url(url)
        connection["credentials"]["reset"] = _keep_session
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                "migrations": "migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def conn(connection: BaseDBAsyncClient | None = None) -> BaseDBAsyncClient:
    """The given connection (a transaction's) or the default one."""
    return connection if connection is not None else Tortoise.get_connection("default")


def is_postgres(connection: BaseDBAsyncClient | None = None) -> bool:
    return conn(connection).capabilities.dialect == "postgres"


def sql(text: str, connection: BaseDBAsyncClient | None = None) -> str:
    """Rewrite ``$n`` placeholders for SQLite, which takes ``?n``."""
    if is_postgres(connection):
        return text
    return _PLACEHOLDER.sub(r"?\1", text)


def ts(value: datetime, connection: BaseDBAsyncClient | None = None) -> Any:
    """A timestamp parameter: a datetime for asyncpg, the text Tortoise writes for SQLite."""
    value = value.astimezone(UTC)
    return value if is_postgres(connection) else str(value)


def like_pattern(text: str) -> str:
    """A LIKE pattern matching text anywhere, with LIKE's wildcards escaped (ESCAPE '\\')."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def fetch(
    text: str, params: Sequence[Any] = (), connection: BaseDBAsyncClient | None = None
) -> list[dict[str, Any]]:
    """Rows of a raw query as dicts."""
    c = conn(connection)
    return list(await c.execute_query_dict(sql(text, c), list(params)))


async def execute(
    text: str, params: Sequence[Any] = (), connection: BaseDBAsyncClient | None = None
) -> int:
    """Run a raw statement; returns the number of rows it touched."""
    c = conn(connection)
    count, _ = await c.execute_query(sql(text, c), list(params))
    return int(count)


async def migrate_database(database_url: str) -> None:
    """Bring the database up to the newest migration (creating it on SQLite)."""
    from tortoise.migrations.api import migrate

    await migrate(config=tortoise_config(database_url))
    await Tortoise.close_connections()


async def create_postgres_database(database_url: str) -> None:
    """Create the PostgreSQL database the URL names, if it does not exist."""
    import asyncpg

    base, _, name = normalize_url(database_url).split("?", 1)[0].rpartition("/")
    admin = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres")
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()


def as_datetime(value: Any) -> datetime | None:
    """A timestamp read by raw SQL: asyncpg gives datetimes, SQLite the text Tortoise wrote."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


_SQLITE_OUTAGES = ("unable to open database", "disk i/o error", "database is locked")


def is_outage(exc: BaseException | None) -> bool:
    """True when exc, or an error it was raised from, says that the database cannot be
    reached (refused, dropped, shutting down, out of connections; SQLite: the file cannot be
    opened or stays locked): the caller should retry, it did nothing wrong."""
    import socket
    import sqlite3

    import asyncpg
    from tortoise.exceptions import DBConnectionError

    outages = (
        ConnectionError,  # refused, reset, aborted
        socket.gaierror,  # the host name does not resolve
        DBConnectionError,
        asyncpg.PostgresConnectionError,  # class 08: the connection failed or is gone
        asyncpg.CannotConnectNowError,  # the server is starting or stopping
        asyncpg.AdminShutdownError,
        asyncpg.CrashShutdownError,
        asyncpg.TooManyConnectionsError,
    )
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, outages):
            return True
        if isinstance(exc, OSError) and "connect call failed" in str(exc).lower():
            return True  # asyncpg, having tried each address of the host
        if isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc):
            return True  # "connection is closed", "pool is closed"
        if isinstance(exc, sqlite3.OperationalError) and str(exc).lower().startswith(
            _SQLITE_OUTAGES
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False
