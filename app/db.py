"""The ORM configuration shared by the app, migrations, tests and benchmarks, and the dialect.

Raw SQL in this project is written with ``$1``-style placeholders; ``sql()`` rewrites
them for SQLite. Every other difference between the two backends lives here too: ids as one
parameter (``any_of``, ``ids_param``), parameters with casts (``Params``), row locks
(``for_update``), UTC timestamps (``ts``, ``utc``, ``as_datetime``), JSON columns
(``json_value``), the DSN (``normalize_url``, ``asyncpg_dsn``, ``is_postgres_url``) and
case-insensitive text (``fold``, ``unicode_lower``: SQLite's own ``lower`` and ``upper``
change ASCII letters only, so each SQLite connection gets ``UNICODE_LOWER``), and a statement
whose caller is cancelled (asyncpg cancels it on the server; on SQLite the connection
interrupts it, see ``_InterruptibleConnection``).
A module elsewhere that still asks ``is_postgres()`` says why beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import aiosqlite
import orjson
from pypika_tortoise.enums import SqlTypes
from pypika_tortoise.functions import Cast
from pypika_tortoise.terms import Function, Term
from tortoise import Tortoise, fields
from tortoise.backends.base.client import (
    BaseDBAsyncClient,
    ConnectionWrapper,
    NestedTransactionContext,
    TransactionContext,
)
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.sqlite.client import (
    SqliteClient,
    SqliteTransactionContext,
    SqliteTransactionWrapper,
)
from tortoise.backends.sqlite.executor import SqliteExecutor
from tortoise.connection import get_connections
from tortoise.filters import Like, insensitive_contains, insensitive_exact
from tortoise.models import Model

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
    "app.changes.models",
    "app.webhooks.models",
]

_PLACEHOLDER = re.compile(r"\$(\d+)")


def is_postgres_url(database_url: str) -> bool:
    return database_url.startswith(("postgres://", "postgresql://"))


POOL_MINSIZE, POOL_MAXSIZE = 2, 20


def normalize_url(url: str) -> str:
    """Accept postgresql:// and the pool size defaults a server needs: each size the URL does
    not give (a maxsize at least the minsize given, a minsize at most the maxsize given)."""
    if url.startswith("postgresql://"):
        url = "postgres://" + url.removeprefix("postgresql://")
    if url.startswith("postgres://"):
        given = dict(parse_qsl(url.partition("?")[2]))
        added = []
        if "minsize" not in given:
            maxsize = given.get("maxsize", "")
            ceiling = int(maxsize) if maxsize.isdigit() else POOL_MINSIZE
            added.append(f"minsize={min(POOL_MINSIZE, ceiling)}")
        if "maxsize" not in given:
            minsize = given.get("minsize", "")
            floor = int(minsize) if minsize.isdigit() else 0
            added.append(f"maxsize={max(POOL_MAXSIZE, floor)}")
        if added:
            url += ("&" if "?" in url else "?") + "&".join(added)
    return url


# options of the URL that Tortoise reads and asyncpg does not know
_TORTOISE_ONLY = {"minsize", "maxsize", "max_inactive_connection_lifetime", "schema"}


def asyncpg_dsn(database_url: str, *, keep_options: bool = True) -> str:
    """The DSN asyncpg.connect() takes for a postgres:// URL: the scheme it knows, without the
    pool options only Tortoise reads (and without any option unless ``keep_options``)."""
    base, _, query = normalize_url(database_url).partition("?")
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in _TORTOISE_ONLY]
    base = base.replace("postgres://", "postgresql://", 1)
    return base + ("?" + "&".join(kept) if kept and keep_options else "")


def sqlite_path(database_url: str) -> str:
    """The file a sqlite:// URL names (``:memory:`` or empty for an in-memory database)."""
    return database_url.removeprefix("sqlite://").split("?", 1)[0]


async def _keep_session(connection: Any) -> None:
    """Pool release without asyncpg's reset query: no code here leaves session state behind
    (no SET without its undo, no LISTEN or advisory lock on pooled connections), and the
    reset would cost a round trip per query, as much as a whole lookup."""


# The SQL function of every SQLite connection that lowers text as PostgreSQL's lower() does
# (every script, not ASCII only). A name of its own: the builtin lower() stays what an
# expression index built with it holds.
UNICODE_LOWER = "unicode_lower"
_LOWER_CALL = re.compile(r"\blower\(", re.IGNORECASE)


def fold(text: str) -> str:
    """Text as case-insensitive search compares it, on both backends: lowered as
    PostgreSQL's lower() and SQLite's ``UNICODE_LOWER`` lower it (not casefolded: "ß" stays
    "ß", as lower() leaves it in SQL)."""
    return text.lower()


def _unicode_lower(value: Any) -> Any:
    return fold(value) if isinstance(value, str) else value


def unicode_lower(text: str, connection: BaseDBAsyncClient | None = None) -> str:
    """A statement whose ``lower(...)`` calls lower every script: as it is on PostgreSQL, with
    ``UNICODE_LOWER`` in their place on SQLite."""
    if is_postgres(connection):
        return text
    return _LOWER_CALL.sub(f"{UNICODE_LOWER}(", text)


def _lowered(field: Term) -> Term:
    return Function(UNICODE_LOWER, Cast(field, SqlTypes.VARCHAR))


def _sqlite_icontains(field: Term, value: str) -> Any:
    pattern = like_pattern(str(value))
    return Like(_lowered(field), field.wrap_constant(pattern))


def _sqlite_iexact(field: Term, value: str) -> Any:
    return _lowered(field).eq(fold(str(value)))


class _SqliteExecutor(SqliteExecutor):
    """The ORM's case-insensitive filters (``__icontains``, ``__iexact``) on SQLite, through
    ``UNICODE_LOWER`` rather than the ASCII-only builtin ``upper``."""

    FILTER_FUNC_OVERRIDE = SqliteExecutor.FILTER_FUNC_OVERRIDE | {
        insensitive_contains: _sqlite_icontains,
        insensitive_exact: _sqlite_iexact,
    }


# how often a cancelled caller interrupts its statement again until aiosqlite's thread is
# done with it (an interrupt before the statement has begun to run is forgotten when it does)
_INTERRUPT_AGAIN_SECONDS = 0.01


# what is never interrupted: the end of a transaction (an interrupted COMMIT could leave it
# open on the connection, for the next statement to run in) and its other controls
_TRANSACTION_CONTROL = re.compile(r"\s*(BEGIN|COMMIT|END|ROLLBACK|SAVEPOINT|RELEASE)\b", re.I)
_NEVER_INTERRUPTED = frozenset({"commit", "rollback", "close"})


def _may_interrupt(fn: Callable[..., Any], args: Sequence[Any]) -> bool:
    if getattr(fn, "__name__", "") in _NEVER_INTERRUPTED:
        return False
    return not (args and isinstance(args[0], str) and _TRANSACTION_CONTROL.match(args[0]))


class _Call:
    """One call queued to aiosqlite's thread: whether it has begun there, and whether its
    caller stopped waiting for it (then it never begins)."""

    def __init__(self, function: Callable[[], Any]) -> None:
        self.function = function
        self.lock = threading.Lock()
        self.begun = False
        self.abandoned = False

    def __call__(self) -> Any:  # in aiosqlite's thread
        with self.lock:
            if self.abandoned:
                raise sqlite3.OperationalError("interrupted before it began")
            self.begun = True
        return self.function()

    def abandon(self) -> bool:
        """Keep it from beginning; True when it has begun already (it must be interrupted)."""
        with self.lock:
            self.abandoned = True
            return self.begun


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Mark the end of an abandoned call's future as seen."""
    if not future.cancelled():
        future.exception()


class _InterruptibleConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose statement stops when the task awaiting it is cancelled
    (by the request deadline): ``sqlite3.Connection.interrupt()`` (thread-safe) ends it in the
    worker thread, which would otherwise run it to its end, holding the database and every
    statement queued after it. The cancelled caller returns once the thread is done with it,
    so the next statement runs at once."""

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not _may_interrupt(fn, args):
            return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        raw = self._connection
        call = _Call(partial(fn, *args, **kwargs))
        future = asyncio.get_running_loop().create_future()
        self._tx.put_nowait((future, call))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # its future ends with the interruption ("interrupted", or "interrupted before it
            # began"), which nobody awaits: asyncio would log it as an ERROR with a traceback,
            # "Future exception was never retrieved"
            future.add_done_callback(_retrieve)
            if call.abandon():
                while not future.done():
                    raw.interrupt()
                    await asyncio.wait([future], timeout=_INTERRUPT_AGAIN_SECONDS)
            raise


class _UnicodeTransactionWrapper(SqliteTransactionWrapper):
    """Tortoise's SQLite transaction, with the case-insensitive filters of the client outside
    transactions (it shares the client's connection, and so ``UNICODE_LOWER``; Tortoise's own
    wrapper would build them with the ASCII-only ``upper``)."""

    __module__ = SqliteTransactionWrapper.__module__
    executor_class = _SqliteExecutor

    def _in_transaction(self) -> TransactionContext:
        return NestedTransactionContext(_UnicodeTransactionWrapper(self))


# the transactions given back by _SqliteTransaction after their caller was cancelled, still
# finishing (the event loop keeps only weak references to tasks)
_GIVING_BACK: set[asyncio.Task[None]] = set()


class _SqliteTransaction(SqliteTransactionContext):
    """Tortoise's SQLite transaction, which never keeps the connection's lock when its caller
    is cancelled (by the request deadline) while it opens. Tortoise's takes the lock, then
    awaits ``BEGIN``: cancelled there, ``__aexit__`` never runs, the lock is never released
    and every later transaction of the process waits for it forever; and a ``BEGIN`` already
    queued to aiosqlite's thread still runs, leaving a transaction open on the connection.
    Here the opening runs shielded; a cancelled caller leaves at once, and the opening is
    given back once it ends: rolled back if it began, then the lock released."""

    async def __aenter__(self) -> Any:
        await self._trxlock.acquire()
        opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.shield(opening)
        except BaseException:
            task = asyncio.ensure_future(self._give_back(opening))
            _GIVING_BACK.add(task)
            task.add_done_callback(_GIVING_BACK.discard)
            raise
        self.token = get_connections().set(self.connection_name, self.connection)
        return self.connection

    async def _open(self) -> None:
        await self.ensure_connection()
        await self.connection.begin()

    async def _give_back(self, opening: asyncio.Future[None]) -> None:
        try:
            await asyncio.wait([opening])
            raw = self.connection._connection
            if raw is not None and raw._connection is not None and raw.in_transaction:
                await raw.rollback()
        finally:
            self._trxlock.release()


class _ConnectionWrapper(ConnectionWrapper[Any]):
    """Tortoise's hold of the SQLite connection for one statement, which lets go of the
    connection's lock when opening the connection fails. Tortoise's takes the lock, then opens:
    an error there (a file that is not a database, a full disk refusing the WAL journal) leaves
    ``__aexit__`` unrun and the lock held, and every later statement of the process waits for
    it forever (``segments serve`` hung in its migrations, never saying why)."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class UnicodeSqliteClient(SqliteClient):
    """Tortoise's SQLite client, whose connection has ``UNICODE_LOWER``, and whose
    transactions filter with it too."""

    # Tortoise's migrations pick their SQLite schema editor by the client's module name
    __module__ = SqliteClient.__module__
    executor_class = _SqliteExecutor

    async def create_connection(self, with_db: bool) -> None:
        """Tortoise's, but a connection whose set-up fails (its PRAGMAs, on a full disk or a
        file that is not a database) is closed and forgotten, so that the next statement opens
        one afresh: Tortoise keeps it, and the process would go on without WAL, foreign keys,
        ``UNICODE_LOWER`` or the request deadline's interruption."""
        try:
            await super().create_connection(with_db)
        except BaseException:
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close()
            raise

    def acquire_connection(self) -> ConnectionWrapper[Any]:
        return _ConnectionWrapper(self._lock, self)

    def _in_transaction(self) -> TransactionContext:
        return _SqliteTransaction(_UnicodeTransactionWrapper(self), self._lock)

    async def _post_connect(self) -> None:
        await super()._post_connect()
        if self._connection is not None:
            # aiosqlite.connect(), which Tortoise calls, makes a plain aiosqlite connection
            self._connection.__class__ = _InterruptibleConnection
            await self._connection.create_function(
                UNICODE_LOWER, 1, _unicode_lower, deterministic=True
            )


# this module is the engine of the SQLite connection (Tortoise reads its client_class)
client_class = UnicodeSqliteClient


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = normalize_url(database_url)
    connection: Any = url
    if url.startswith("sqlite://"):
        path = sqlite_path(url)
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        connection = expand_db_url(url)
        connection["engine"] = __name__
    else:
        connection = expand_db_url(url)
        connection["credentials"]["reset"] = _keep_session
        # no JIT compilation: the service's statements are short lookups and set-based writes
        # of well under a second, where compiling costs more than it saves (a rule edit's
        # statement spent 434 of its 657 ms compiling; a lookup planned on missing statistics,
        # a few hundred ms) and the stalls land on whoever waits behind them
        settings = connection["credentials"].setdefault("server_settings", {})
        settings.setdefault("jit", "off")
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


def owned_by(model: str, *, indexed: bool = False) -> Any:
    """A foreign key to the row that owns this one: deleted with it, no reverse relation."""
    return fields.ForeignKeyField(
        model, related_name=False, on_delete=fields.CASCADE, db_index=indexed
    )


def site_key(*, indexed: bool = False) -> Any:
    """The ``site`` foreign key every site-owned row carries (deleted with its site)."""
    return owned_by("models.Site", indexed=indexed)


# The abstract bases of the models (comments, not docstrings: Tortoise makes a model's
# docstring its table's comment). A row a site owns: a bigint id and the ``site`` key.
class SiteOwned(Model):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Any] = site_key()
    site_id: int

    class Meta:
        abstract = True


# A row that names its site by a plain ``site_id`` column, not a foreign key: it goes with the
# row that owns it (a segment, a flag, a campaign) or, as a record, outlives it.
class SiteScoped(Model):
    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()

    class Meta:
        abstract = True


# A row of a segment's, deleted with it.
class OfSegment(SiteScoped):
    segment: fields.ForeignKeyRelation[Any] = owned_by("models.Segment")
    segment_id: int

    class Meta:
        abstract = True


# A link from a row (a flag, a persona) to a segment it targets: deleting either side removes
# the link only. The segment side is indexed for the segment's list of them and for the
# cascade when the segment is deleted.
class SegmentTarget(SiteScoped):
    segment: fields.ForeignKeyRelation[Any] = owned_by("models.Segment", indexed=True)
    segment_id: int

    class Meta:
        abstract = True


# Long work a caller asked for (an import job, an email campaign): who asked, and when it was
# asked for, begun and finished; its status is the shared JobStatus (app/status.py).
class LongWork(SiteOwned):
    actor = fields.CharField(max_length=100)
    created_at = fields.DatetimeField(auto_now_add=True)
    started_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        abstract = True


# When a row was made and last saved, kept by the ORM.
class Timestamped(Model):
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        abstract = True


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


def utc(value: datetime) -> datetime:
    """Aware UTC; a naive datetime is taken as UTC, as the ORM does (timezone UTC)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def ts(value: datetime, connection: BaseDBAsyncClient | None = None) -> Any:
    """A timestamp parameter: a datetime for asyncpg, the text Tortoise writes for SQLite
    (``2024-01-02 03:04:05.123456+00:00``, which orders correctly as text)."""
    value = utc(value)
    return value if is_postgres(connection) else str(value)


def cast(ref: str, pg_type: str, connection: BaseDBAsyncClient | None = None) -> str:
    """A parameter reference with its type on PostgreSQL (SQLite takes it as it is)."""
    return f"{ref}::{pg_type}" if is_postgres(connection) else ref


def for_update(connection: BaseDBAsyncClient | None = None, *, skip_locked: bool = False) -> str:
    """The row-lock clause of a SELECT; nothing on SQLite, where a transaction already
    excludes every other writer."""
    if not is_postgres(connection):
        return ""
    return " FOR UPDATE SKIP LOCKED" if skip_locked else " FOR UPDATE"


def ids_param(ids: Sequence[Any], connection: BaseDBAsyncClient | None = None) -> Any:
    """Many values as one parameter: an array for asyncpg, JSON text for SQLite's json_each
    (so the SQLite parameter limit never applies). Read it with ``any_of``."""
    return list(ids) if is_postgres(connection) else orjson.dumps(list(ids)).decode()


def any_of(
    column: str, ref: str, connection: BaseDBAsyncClient | None = None, pg_type: str = "text"
) -> str:
    """SQL: ``column`` is one of the values of the parameter ``ref`` (made by ``ids_param``)."""
    if is_postgres(connection):
        return f"{column} = ANY({ref}::{pg_type}[])"
    return f"{column} IN (SELECT value FROM json_each({ref}))"


class Params:
    """Numbered parameters of one statement; casts (PostgreSQL only) fix their types.
    Datetimes go as ``ts`` writes them, enums as their values."""

    def __init__(self, connection: BaseDBAsyncClient | None = None) -> None:
        self.pg = is_postgres(connection)
        self.values: list[Any] = []

    def add(self, value: Any, pg_type: str) -> str:
        if isinstance(value, datetime):
            value = utc(value)
            if not self.pg:
                value = value.isoformat(" ")
        elif isinstance(value, enum.Enum):
            value = value.value
        self.values.append(value)
        ref = f"${len(self.values)}"
        return f"{ref}::{pg_type}" if self.pg else ref

    __call__ = add

    def ids(self, ids: Sequence[Any], pg_type: str = "text") -> str:
        """Many values as one parameter, for ``any_of`` (which casts it on PostgreSQL)."""
        self.values.append(list(ids) if self.pg else orjson.dumps(list(ids)).decode())
        return f"${len(self.values)}"


def like_pattern(text: str) -> str:
    """A LIKE pattern matching text anywhere, with LIKE's wildcards escaped (ESCAPE '\\')."""
    escaped = fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
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


async def claim_one(text: str, params: Sequence[Any] = ()) -> dict[str, Any] | None:
    """Run a claim, committed on its own: an ``UPDATE ... WHERE id = (SELECT ... LIMIT
    1{lock}) ... RETURNING ...`` whose ``{lock}`` becomes SKIP LOCKED, so that the workers of
    other processes each take a different row and none waits. The row claimed, or None."""
    rows = await fetch(text.format(lock=for_update(skip_locked=True)), params)
    return rows[0] if rows else None


# the keys of the session-level advisory locks that serialise, across processes starting
# together, creating the database (on the maintenance database) and migrating it (on itself)
_CREATE_LOCK = 0x5E6_0001
_MIGRATE_LOCK = 0x5E6_0002


async def migrate_database(database_url: str) -> None:
    """Bring the database up to the newest migration (creating it on SQLite). On PostgreSQL
    under an advisory lock: of processes starting together one migrates, the others wait,
    then find nothing left to do."""
    from tortoise.migrations.api import migrate

    lock = None
    if is_postgres_url(database_url):
        import asyncpg

        lock = await asyncpg.connect(asyncpg_dsn(database_url))
        await lock.execute("SELECT pg_advisory_lock($1)", _MIGRATE_LOCK)
    try:
        await migrate(config=tortoise_config(database_url))
        await Tortoise.close_connections()
    finally:
        if lock is not None:
            await lock.close()  # the session's end releases the lock


async def postgres_database_exists(database_url: str) -> bool:
    """Whether the PostgreSQL database the URL names exists (asked of the maintenance
    database, so that a missing one is not an error)."""
    import asyncpg

    base, _, name = asyncpg_dsn(database_url, keep_options=False).rpartition("/")
    admin = await asyncpg.connect(base + "/postgres")
    try:
        return bool(await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name))
    finally:
        await admin.close()


async def create_postgres_database(database_url: str) -> bool:
    """Create the PostgreSQL database the URL names, if it does not exist; True when it did
    not (and was made). Under an advisory lock on the maintenance database, and a database
    made meanwhile by another process (duplicate_database, or the unique violation of a
    CREATE racing another) counts as existing."""
    import asyncpg

    base, _, name = asyncpg_dsn(database_url, keep_options=False).rpartition("/")
    admin = await asyncpg.connect(base + "/postgres")
    try:
        await admin.execute("SELECT pg_advisory_lock($1)", _CREATE_LOCK)
        if await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            return False
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except (asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
            return False
        return True
    finally:
        await admin.close()  # the session's end releases the lock


def as_datetime(value: Any) -> datetime | None:
    """A timestamp read by raw SQL: asyncpg gives datetimes, SQLite the text Tortoise wrote."""
    if value is None or isinstance(value, datetime):
        return value
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def json_value(value: Any) -> Any:
    """A JSON column read by raw SQL: SQLite (and asyncpg without a codec) give its text."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def json_type(value: Any) -> str:
    """The JSON type of a decoded JSON value: null, boolean, number, string, array, object."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def parse_pk(text: str) -> int | None:
    """The row id an opaque id names, or None when it names none (not a number, or out of
    the range of a bigint). Only the id as the API writes it names a row: ASCII digits with
    no sign, space, underscore or leading zero ("+2", " 2", "02", "0_2" and the Arabic-Indic
    "٢" were the row 2 to int(), so two ids of one list named one row)."""
    if not isinstance(text, str) or not 0 < len(text) < 20 or not text.isascii():
        return None
    if not text.isdigit() or text[0] == "0":
        return None
    pk = int(text)
    return pk if pk < 2**63 else None


# (a full disk: nothing the caller did wrong, and the same write succeeds once there is room)
_SQLITE_OUTAGES = (
    "unable to open database",
    "disk i/o error",
    "database is locked",
    "database or disk is full",
)


def is_outage(exc: BaseException | None) -> bool:
    """True when exc, or an error it was raised from, says that the database cannot be
    reached (refused, dropped, shutting down, out of connections; SQLite: the file cannot be
    opened or stays locked) or cannot write (its disk is full): the caller should retry, it
    did nothing wrong."""
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
        asyncpg.DiskFullError,  # 53100: the write is refused until there is room again
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
