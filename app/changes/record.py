"""Writing the record: the site's membership lock, then the changes, told at commit.

Every writer of a site's membership takes ``lock_site`` before its first kept write and holds
it to its commit (it is a row lock of the caller's transaction), so the ids of a site's changes
are handed out in the order their transactions commit. ``write`` inserts changes in one
statement (rows of up to 4,096 changes of one segment, kind, cause and moment: see
app.memberships.kept) and tells the ``membership.changes`` topic at commit (NOTIFY on
PostgreSQL: every process hears it; dropped on rollback) with the last id written, so the
subscription and the webhook worker read on from their cursors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.changes.models import ChangeCause, ChangeKind
from app.db import conn, is_postgres, utc
from app.memberships.kept import TOPIC, Writer, emit
from app.memberships.lock import ensure_site
from app.memberships.rebuild import rebuild

__all__ = ["TOPIC", "Change", "lock_site", "rebuild", "write", "write_select"]


@dataclass(frozen=True, slots=True)
class Change:
    segment_id: int
    member_id: int
    member_ref: str
    kind: ChangeKind
    cause: ChangeCause
    at: datetime


async def lock_site(site_id: int, connection: BaseDBAsyncClient) -> None:
    """Hold the site's membership lock until the caller's transaction ends (made on first use,
    with the site's kept rows built from scratch; on SQLite the transaction already excludes
    every other writer). See app.memberships.lock.ensure_site."""
    await ensure_site(site_id, conn(connection), datetime.now(UTC))


_CHANGES_PG = (
    "SELECT u.s AS segment_id, u.m AS member_id, u.r AS member_ref, u.k AS kind,"
    " u.c AS cause, u.a AS at FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[],"
    " $5::text[], $6::timestamptz[]) WITH ORDINALITY AS u(s, m, r, k, c, a, n) ORDER BY u.n"
)
_CHANGES_SQLITE = (
    "SELECT value ->> 0 AS segment_id, value ->> 1 AS member_id, value ->> 2 AS member_ref,"
    " value ->> 3 AS kind, value ->> 4 AS cause, value ->> 5 AS at FROM json_each($1)"
    " ORDER BY key"
)


async def write(site_id: int, changes: Sequence[Change], connection: BaseDBAsyncClient) -> int:
    """Record ``changes`` (in their order) on the caller's transaction, which must hold
    ``lock_site`` (the record alone: no kept counter moves); returns the last id written (0
    for none)."""
    if not changes:
        return 0
    c = conn(connection)
    params: list[Any]
    if is_postgres(c):
        params = [
            [x.segment_id for x in changes],
            [x.member_id for x in changes],
            [x.member_ref for x in changes],
            [x.kind.value for x in changes],
            [x.cause.value for x in changes],
            [utc(x.at) for x in changes],
        ]
        select = _CHANGES_PG
    else:
        rows = [
            [x.segment_id, x.member_id, x.member_ref, x.kind.value, x.cause.value, str(utc(x.at))]
            for x in changes
        ]
        params = [orjson.dumps(rows).decode()]
        select = _CHANGES_SQLITE
    writer = Writer(c, site_id, datetime.now(UTC))
    return (await emit(writer, select, params, counters=False)).last


async def write_select(
    site_id: int,
    select: str,
    params: Sequence[Any],
    connection: BaseDBAsyncClient,
    now: datetime | None = None,
) -> int:
    """The set-based ``write``: record the rows ``select`` gives (columns segment_id,
    member_id, member_ref, kind, cause, at; in its order) with one INSERT ... SELECT, move the
    segments' kept member counters by them, and tell the topic at commit. The caller's
    transaction must hold ``lock_site``. Returns the last id written (0 for none)."""
    writer = Writer(conn(connection), site_id, now or datetime.now(UTC))
    return (await emit(writer, select, params)).last
