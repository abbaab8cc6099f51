"""Set-based bulk membership: list, unlist, exclude and move many ids in a few statements.

The ids go to the database once, into a temporary table (``unnest`` of one array
parameter on PostgreSQL, ``json_each`` of one JSON parameter on SQLite, so the
SQLite parameter limit never applies), resolved to members or companies of the
site by one join. The counts and samples of the payload are read from that table
before anything changes, so that a dry run and the real run report the same
numbers by construction; then each change is one statement (an upsert with
``ON CONFLICT``, a ``DELETE``). Nothing here loops over ids in Python.

Every function runs on the caller's transaction connection and never commits.
Counts are exact when no other transaction changes the same segment meanwhile: the
membership path (app.memberships.path) locks every segment it changes first, once per
transaction; SQLite serialises writers already.

Timestamps are written as the ORM writes them: ``timestamptz`` on PostgreSQL, and
on SQLite the text ``datetime.isoformat(" ")`` of the UTC time
(``2024-01-02 03:04:05.123456+00:00``), which orders correctly as text; a stored
value with another offset is compared through ``julianday`` instead.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, cast

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params, execute, fetch, is_postgres, utc
from app.errors import DomainError, ErrorCode
from app.memberships import flips, kept, lock, rebuild, refresh
from app.memberships.models import ListedSource
from app.rules.values import bucket_of

SAMPLE_SIZE = 100
UNKNOWN_IDS_LIMIT = 1000

_MAX_ID_LENGTH = 255  # members.external_id

_IDS = "_bulk_ids"  # the request's ids, resolved
# fewer ids than this are probed through the index without statistics: an ANALYZE would
# cost more than the change (a batch of thousands of one-id changes)
_ANALYZE_FROM = 1000


class Mode(enum.Enum):
    ADD = "ADD"
    OVERRIDE = "OVERRIDE"
    DELETE = "DELETE"


@dataclass
class ChangeResult:
    added: int
    removed: int
    unchanged: int
    unknown_ids: list[str]  # first UNKNOWN_IDS_LIMIT, in input order
    unknown_count: int
    created: int = 0  # members made by create_missing (or that a dry run would make)
    added_sample: list[str] = field(default_factory=list)  # up to SAMPLE_SIZE
    removed_sample: list[str] = field(default_factory=list)  # up to SAMPLE_SIZE


@dataclass(frozen=True)
class _Link:
    """A segment's list table and the site table its rows point at."""

    table: str
    column: str
    entity: str
    expiring: bool  # has source and expires_at


_MEMBERS = _Link("segment_members", "member_id", "members", expiring=True)
_COMPANIES = _Link("segment_companies", "company_id", "companies", expiring=False)
_EXCLUSIONS = _Link("segment_exclusions", "member_id", "members", expiring=False)


@dataclass(frozen=True)
class _Listing:
    """What a listing upsert writes besides the ids: source and expiry."""

    source: ListedSource = ListedSource.MANUAL
    expires_at: datetime | None = None
    from_rows: bool = False  # take each row's b.expires_at instead of expires_at
    touch_expiry: bool = False  # also set the expiry of rows already listed


@dataclass
class _Plan:
    """The effect of a change, read before it is made."""

    total: int = 0
    known: int = 0
    listed_in: int = 0  # input ids listed (unexpired) now
    listed_out: int = 0  # listed (unexpired) now, not in the input (OVERRIDE)
    added_sample: list[str] = field(default_factory=list)
    removed_sample: list[str] = field(default_factory=list)
    unknown_ids: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- dialect


@dataclass(frozen=True)
class _Ctx:
    connection: BaseDBAsyncClient
    pg: bool
    site_id: int
    now: datetime

    def params(self) -> Params:
        return Params(self.connection)

    async def rows(self, text: str, p: Params | None = None) -> list[dict[str, object]]:
        return await fetch(text, p.values if p else (), connection=self.connection)

    async def run(self, text: str, p: Params | None = None) -> int:
        return await execute(text, p.values if p else (), connection=self.connection)

    async def count(self, text: str, p: Params) -> int:
        return _int((await self.rows(text, p))[0]["n"])

    async def column(self, text: str, p: Params) -> list[str]:
        return [str(row["v"]) for row in await self.rows(text, p)]

    def live(self, p: Params, link: _Link, alias: str) -> str:
        """SQL: the listing ``alias`` has not expired (always true for lists without expiry)."""
        if not link.expiring:
            return "TRUE"
        col, now = f"{alias}.expires_at", p(self.now, "timestamptz")
        if self.pg:
            return f"({col} IS NULL OR {col} > {now})"
        return (
            f"({col} IS NULL OR CASE WHEN substr({col}, -6) = '+00:00' THEN {col} > {now}"
            f" ELSE julianday({col}) > julianday({now}) END)"
        )

    def differs(self, a: str, b: str) -> str:
        return f"{a} IS DISTINCT FROM {b}" if self.pg else f"{a} IS NOT {b}"


def _int(value: object) -> int:
    return int(str(value or 0))


def _context(connection: BaseDBAsyncClient, site_id: int, now: datetime) -> _Ctx:
    # the bulk statements differ in shape, not only in parameters (temporary tables, unnest
    # WITH ORDINALITY against json_each, RETURNING), so the context knows its dialect
    return _Ctx(connection, is_postgres(connection), site_id, utc(now))


# --------------------------------------------------------------------------- loading ids


def _dedupe(external_ids: Sequence[str]) -> list[str]:
    if isinstance(external_ids, str):
        raise TypeError("external_ids must be a sequence of ids, not one string")
    return list(dict.fromkeys(external_ids))


def _check_new_ids(ids: Sequence[str]) -> None:
    """Ids that create_missing may have to store as members' external ids."""
    if any(not i or len(i) > _MAX_ID_LENGTH for i in ids):
        raise DomainError(
            ErrorCode.INVALID,
            f"member ids must be 1 to {_MAX_ID_LENGTH} characters to be created",
            ["members"],
        )


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and utc(expires_at) <= utc(now):
        raise DomainError(ErrorCode.INVALID, "expiresAt must be in the future", ["expiry"])


async def _create_table(ctx: _Ctx, name: str) -> None:
    """An empty table for a change's ids.

    On PostgreSQL it is made once per transaction and emptied for each change after: a
    table (and its index) made per change would hold a lock each until the commit, and a
    batch of thousands of changes would run out of the server's lock table."""
    if ctx.pg:
        await ctx.run(
            f"CREATE TEMP TABLE IF NOT EXISTS {name} (ord bigint NOT NULL,"
            " external_id text NOT NULL, ref_id bigint, bucket smallint, expires_at timestamptz)"
            " ON COMMIT DROP"
        )
        await ctx.run(f"DELETE FROM {name}")  # (cheaper than TRUNCATE for a few rows)
    else:
        await ctx.run(f"DROP TABLE IF EXISTS {name}")
        await ctx.run(
            f"CREATE TEMP TABLE {name} (ord INTEGER NOT NULL, external_id TEXT NOT NULL,"
            " ref_id INTEGER, bucket INTEGER, expires_at TEXT)"
        )


async def _finish_table(ctx: _Ctx, name: str, rows: int | None = None) -> None:
    """Index a filled table (and give PostgreSQL its statistics) for the joins that follow.

    With the index, even a plan made on stale statistics of the big tables (a nested
    loop over listings of a segment just filled) probes the ids instead of scanning them.
    """
    await ctx.run(f"CREATE INDEX IF NOT EXISTS {name}_ref ON {name} (ref_id)")
    if ctx.pg and (rows is None or rows > _ANALYZE_FROM):
        await ctx.run(f"ANALYZE {name}")


async def _drop_tables(ctx: _Ctx, *names: str) -> None:
    """SQLite's tables outlive the transaction: drop them. PostgreSQL's go at the commit."""
    if not ctx.pg:
        for name in names:
            await ctx.run(f"DROP TABLE IF EXISTS {name}")


async def _load_ids(ctx: _Ctx, ids: list[str], entity: str, *, buckets: bool) -> None:
    """Fill _IDS with the ids in input order, each resolved to the site's row (or NULL)."""
    await _create_table(ctx, _IDS)
    p = ctx.params()
    if ctx.pg:
        bucket_list = [bucket_of(i) for i in ids] if buckets else []
        source = (
            f"unnest({p(ids, 'text[]')}, {p(bucket_list, 'smallint[]')})"
            " WITH ORDINALITY AS t(external_id, bucket, ord)"
        )
        select = "t.ord, t.external_id, e.id, t.bucket"
        ext = "t.external_id"
    elif buckets:
        pairs = orjson.dumps([[i, bucket_of(i)] for i in ids]).decode()
        source = f"json_each({p(pairs, 'text')}) AS t"
        ext = "json_extract(t.value, '$[0]')"
        select = f"t.key, {ext}, e.id, json_extract(t.value, '$[1]')"
    else:
        source = f"json_each({p(orjson.dumps(ids).decode(), 'text')}) AS t"
        select, ext = "t.key, t.value, e.id, NULL", "t.value"
    await ctx.run(
        f"INSERT INTO {_IDS} (ord, external_id, ref_id, bucket) SELECT {select} FROM {source}"
        f" LEFT JOIN {entity} e ON e.site_id = {p(ctx.site_id, 'bigint')}"
        f" AND e.external_id = {ext}",
        p,
    )


async def _create_missing(ctx: _Ctx) -> int:
    """Make bare members for the unresolved ids of _IDS and resolve them; returns how many."""
    p = ctx.params()
    site, now = p(ctx.site_id, "bigint"), p(ctx.now, "timestamptz")
    empty = "'{}'::jsonb" if ctx.pg else "'{}'"
    insert = (
        "INSERT INTO members (site_id, external_id, bucket, attributes, created_at, updated_at)"
        f" SELECT {site}, b.external_id, b.bucket, {empty}, {now}, {now}"
        f" FROM {_IDS} b WHERE b.ref_id IS NULL ORDER BY b.external_id"
        " ON CONFLICT (site_id, external_id) DO NOTHING"
    )
    # (in external id order, so that two transactions creating the same ids cannot deadlock;
    # on asyncpg, execute() would read the count of an INSERT from the wrong word of its tag)
    if ctx.pg:  # resolve the new rows from RETURNING, in the same statement
        created = await ctx.count(
            f"WITH i AS ({insert} RETURNING id, external_id), u AS (UPDATE {_IDS} b"
            " SET ref_id = i.id FROM i WHERE b.external_id = i.external_id)"
            " SELECT COUNT(*) AS n FROM i",
            p,
        )
    else:
        created = await ctx.run(insert, p)
    # and whatever another transaction created meanwhile (skipped by ON CONFLICT)
    p = ctx.params()
    await ctx.run(
        f"UPDATE {_IDS} SET ref_id = (SELECT e.id FROM members e"
        f" WHERE e.site_id = {p(ctx.site_id, 'bigint')} AND e.external_id = {_IDS}.external_id)"
        " WHERE ref_id IS NULL",
        p,
    )
    return created


# --------------------------------------------------------------------------- reading the plan


def _join_listed(ctx: _Ctx, p: Params, link: _Link, segment_id: int, src: str) -> str:
    """FROM clause: the input rows ``b``, each with its unexpired listing ``l`` (or NULLs)."""
    return (
        f"{src} b LEFT JOIN {link.table} l ON l.segment_id = {p(segment_id, 'bigint')}"
        f" AND l.site_id = {p(ctx.site_id, 'bigint')} AND l.{link.column} = b.ref_id"
        f" AND {ctx.live(p, link, 'l')}"
    )


async def _plan(
    ctx: _Ctx, link: _Link, segment_id: int, mode: Mode, src: str, *, create: bool
) -> _Plan:
    """Counts, samples and unknown ids of a change, from the database as it is now.

    With ``create``, unresolved ids count as members that would be created (dry run).
    """
    p = ctx.params()
    adds = mode is not Mode.DELETE
    # the ids sampled, in input order: those added (not listed yet) or removed (listed)
    known = "" if create else " AND b.ref_id IS NOT NULL"
    sampled = f"l.id IS NULL{known}" if adds else "l.id IS NOT NULL"
    sample = ""
    if ctx.pg:
        # with the counts, from the same join (a second join of every id to the listings
        # for 100 of them cost as much as the first)
        sample = (
            f", (array_agg(b.external_id ORDER BY b.ord) FILTER (WHERE {sampled}))"
            f"[1:{SAMPLE_SIZE}] AS sample"
        )
    row = (
        await ctx.rows(
            f"SELECT COUNT(*) AS total, COUNT(b.ref_id) AS known, COUNT(l.id) AS listed{sample}"
            f" FROM {_join_listed(ctx, p, link, segment_id, src)}",
            p,
        )
    )[0]
    plan = _Plan(_int(row["total"]), _int(row["known"]), _int(row["listed"]))
    new = plan.known - plan.listed_in + (plan.total - plan.known if create else 0)
    if new if adds else plan.listed_in:
        if sample:
            taken = [str(v) for v in cast(list[str], row["sample"] or [])]
        else:
            taken = await _sample(ctx, link, segment_id, src, sampled)
        if adds:
            plan.added_sample = taken
        else:
            plan.removed_sample = taken
    if mode is Mode.OVERRIDE:
        plan.listed_out = await _count_listed(ctx, link, segment_id) - plan.listed_in
        if plan.listed_out:
            plan.removed_sample = await _sample_outside(ctx, link, segment_id, src)
    if plan.total > plan.known and not create:
        plan.unknown_ids = await ctx.column(
            f"SELECT external_id AS v FROM {src} WHERE ref_id IS NULL ORDER BY ord"
            f" LIMIT {UNKNOWN_IDS_LIMIT}",
            ctx.params(),
        )
    return plan


async def _count_listed(ctx: _Ctx, link: _Link, segment_id: int) -> int:
    """How many unexpired listings the segment has."""
    p = ctx.params()
    return await ctx.count(
        f"SELECT COUNT(*) AS n FROM {link.table} l WHERE l.segment_id = {p(segment_id, 'bigint')}"
        f" AND l.site_id = {p(ctx.site_id, 'bigint')} AND {ctx.live(p, link, 'l')}",
        p,
    )


async def _sample(ctx: _Ctx, link: _Link, segment_id: int, src: str, where: str) -> list[str]:
    """The first ids (in input order) of the input rows ``where`` says, with their listing."""
    p = ctx.params()
    return await ctx.column(
        f"SELECT b.external_id AS v FROM {_join_listed(ctx, p, link, segment_id, src)}"
        f" WHERE {where} ORDER BY b.ord LIMIT {SAMPLE_SIZE}",
        p,
    )


async def _sample_outside(ctx: _Ctx, link: _Link, segment_id: int, src: str) -> list[str]:
    """The first unexpired listings not in the input, in member (or company) id order."""
    p = ctx.params()
    site = p(ctx.site_id, "bigint")
    first = (
        f"SELECT l.{link.column} AS ref FROM {link.table} l"
        f" WHERE l.segment_id = {p(segment_id, 'bigint')} AND l.site_id = {site}"
        f" AND {ctx.live(p, link, 'l')}"
        f" AND NOT EXISTS (SELECT 1 FROM {src} b WHERE b.ref_id = l.{link.column})"
        f" ORDER BY l.{link.column} LIMIT {SAMPLE_SIZE}"
    )
    return await ctx.column(
        f"SELECT e.external_id AS v FROM ({first}) s JOIN {link.entity} e ON e.id = s.ref"
        f" AND e.site_id = {site} ORDER BY s.ref",
        p,
    )


def _result(plan: _Plan, mode: Mode, *, created: int, would_create: int) -> ChangeResult:
    """The payload of a plan: ``would_create`` ids are unresolved but count as new members."""
    new = plan.known - plan.listed_in + would_create
    adds = mode is not Mode.DELETE
    return ChangeResult(
        added=new if adds else 0,
        removed=plan.listed_in if mode is Mode.DELETE else plan.listed_out,
        unchanged=plan.listed_in if adds else plan.known - plan.listed_in,
        unknown_ids=plan.unknown_ids,
        unknown_count=plan.total - plan.known - would_create,
        created=created + would_create,
        added_sample=plan.added_sample,
        removed_sample=plan.removed_sample,
    )


# --------------------------------------------------------------------------- writing


async def _upsert(ctx: _Ctx, link: _Link, segment_id: int, src: str, listing: _Listing) -> None:
    """List every resolved input row; revive expired listings; keep live ones (but expiry)."""
    p = ctx.params()
    cols = f"site_id, segment_id, {link.column}, added_at"
    site, segment, now = (
        p(ctx.site_id, "bigint"),
        p(segment_id, "bigint"),
        p(ctx.now, "timestamptz"),
    )
    vals = f"{site}, {segment}, b.ref_id, {now}"
    conflict = "DO NOTHING"
    if link.expiring:
        expiry = "b.expires_at" if listing.from_rows else p(listing.expires_at, "timestamptz")
        cols += ", source, expires_at"
        vals += f", {p(listing.source, 'text')}, {expiry}"
        conflict = _revive(ctx, p, link, listing)
    await ctx.run(
        f"INSERT INTO {link.table} AS l ({cols}) SELECT {vals} FROM {src} b"
        f" WHERE b.ref_id IS NOT NULL ORDER BY b.ref_id"
        f" ON CONFLICT (segment_id, {link.column}) {conflict}",
        p,
    )


def _revive(ctx: _Ctx, p: Params, link: _Link, listing: _Listing) -> str:
    """The DO UPDATE of a listing upsert: an expired row becomes the new listing."""
    live = ctx.live(p, link, "l")
    keep = f"CASE WHEN {live} THEN l.{{0}} ELSE excluded.{{0}} END"
    expiry = "excluded.expires_at" if listing.touch_expiry else keep.format("expires_at")
    where = f"NOT {live}"
    if listing.touch_expiry:
        where += f" OR {ctx.differs('l.expires_at', 'excluded.expires_at')}"
    return (
        f"DO UPDATE SET source = {keep.format('source')}, added_at = {keep.format('added_at')},"
        f" expires_at = {expiry} WHERE {where}"
    )


async def _delete(ctx: _Ctx, link: _Link, segment_id: int, src: str, *, inside: bool) -> None:
    """Unlist the input rows (``inside``), or every row of the segment not in the input,
    expired listings included."""
    p = ctx.params()
    which = (
        f"{link.column} IN (SELECT ref_id FROM {src} WHERE ref_id IS NOT NULL)"
        if inside
        else f"NOT EXISTS (SELECT 1 FROM {src} b WHERE b.ref_id = {link.table}.{link.column})"
    )
    await ctx.run(
        f"DELETE FROM {link.table} WHERE segment_id = {p(segment_id, 'bigint')}"
        f" AND site_id = {p(ctx.site_id, 'bigint')} AND {which}",
        p,
    )


async def _apply(
    ctx: _Ctx, link: _Link, segment_id: int, mode: Mode, src: str, listing: _Listing
) -> None:
    if mode is Mode.OVERRIDE:
        await _delete(ctx, link, segment_id, src, inside=False)
    if mode is Mode.DELETE:
        await _delete(ctx, link, segment_id, src, inside=True)
    else:
        await _upsert(ctx, link, segment_id, src, listing)


async def _change(
    ctx: _Ctx,
    link: _Link,
    *,
    segment_id: int,
    external_ids: Sequence[str],
    mode: Mode,
    listing: _Listing,
    create_missing: bool = False,
    dry_run: bool = False,
) -> ChangeResult:
    """One bulk change of one list, as the public functions describe it."""
    create = create_missing and mode is not Mode.DELETE
    ids = _dedupe(external_ids)
    if ctx.pg and link is _MEMBERS and mode is Mode.DELETE and not dry_run:
        return await _unlist_members(ctx, segment_id, ids)
    if create:
        _check_new_ids(ids)
    await _load_ids(ctx, ids, link.entity, buckets=create and not dry_run)
    created = await _create_missing(ctx) if create and not dry_run else 0
    await _finish_table(ctx, _IDS, len(ids))
    plan = await _plan(ctx, link, segment_id, mode, _IDS, create=create)
    if not dry_run:
        # the record of what the write changes is read before it, from the same ids
        writer = kept.Writer(ctx.connection, ctx.site_id, ctx.now)
        await lock.ensure_site(ctx.site_id, ctx.connection, ctx.now)
        written = await flips.before_list_change(writer, link.table, segment_id, mode.value, _IDS)
        await _apply(ctx, link, segment_id, mode, _IDS, listing)
        await refresh.cascade(writer, written, [segment_id])
    would_create = plan.total - plan.known if create and dry_run else 0
    await _drop_tables(ctx, _IDS)
    result = _result(plan, mode, created=created, would_create=would_create)
    if link is _COMPANIES and not dry_run:
        await rebuild.move_company_count(writer, segment_id, result.added - result.removed)
    return result


async def _unlist_members(ctx: _Ctx, segment_id: int, ids: list[str]) -> ChangeResult:
    """DELETE of listed members on PostgreSQL, in one statement: the ids resolved (a CTE,
    no table), their listings deleted with ``RETURNING`` what each was, the members who
    leave (kept.emit's changes, from the rows deleted) recorded with the counters, and the
    payload's counts, samples and unknown ids read from the same CTEs. The general path
    took ten statements and read the ids four times (measured on 50,000 of them: 138 ms
    to fill the ids' table, 63 ms to count and sample it, 86 ms to delete, then the
    record). A dry run keeps the general path, which writes nothing."""
    writer = kept.Writer(ctx.connection, ctx.site_id, ctx.now)
    await lock.ensure_site(ctx.site_id, ctx.connection, ctx.now)
    p = ctx.params()
    site, segment = p(ctx.site_id, "bigint"), p(segment_id, "bigint")
    now = p(ctx.now, "timestamptz")
    ids_sql = p(ids, "text[]")
    ctes = ", ".join(
        [
            # the members filtered by the ids (a hashed = ANY) before the join: its hash then
            # holds the input's members, not the site's (200,000 hashed for 50,000 ids: 160 ms)
            "_ui AS MATERIALIZED (SELECT t.ord, t.external_id, e.id AS ref_id, e.company_id"
            f" FROM unnest({ids_sql}) WITH ORDINALITY AS t(external_id, ord)"
            f" LEFT JOIN members e ON e.site_id = {site} AND e.external_id = t.external_id"
            f" AND e.external_id = ANY({ids_sql}))",
            # every listing of the ids goes, expired ones too; only the live ones count
            f"_ud AS (DELETE FROM segment_members l USING _ui b WHERE l.segment_id = {segment}"
            f" AND l.site_id = {site} AND l.member_id = b.ref_id RETURNING b.ord,"
            f" b.ref_id AS id, b.external_id, b.company_id, {ctx.live(p, _MEMBERS, 'l')} AS live)",
            "_uk AS (SELECT COUNT(*) AS total, COUNT(ref_id) AS known FROM _ui)",
            "_uu AS (SELECT array_agg(external_id) AS unknown FROM (SELECT external_id"
            f" FROM _ui WHERE ref_id IS NULL ORDER BY ord LIMIT {UNKNOWN_IDS_LIMIT}) u)",
            "_ur AS (SELECT COUNT(*) AS removed FROM _ud WHERE live)",
            "_us AS (SELECT array_agg(external_id) AS sample FROM (SELECT external_id"
            f" FROM _ud WHERE live ORDER BY ord LIMIT {SAMPLE_SIZE}) s)",
        ]
    )
    exits = await flips.unlisted_exits(writer, segment_id, "_ud", now)
    written, row = await kept.emit_with(
        writer, exits, p.values, ctes=ctes, also=("_uk", "_uu", "_ur", "_us")
    )
    await refresh.cascade(writer, written, [segment_id])
    total, known, removed = _int(row["total"]), _int(row["known"]), _int(row["removed"])
    return ChangeResult(
        added=0,
        removed=removed,
        unchanged=known - removed,
        unknown_ids=[str(v) for v in cast(list[str], row["unknown"] or [])],
        unknown_count=total - known,
        removed_sample=[str(v) for v in cast(list[str], row["sample"] or [])],
    )


# --------------------------------------------------------------------------- public API


async def change_members(
    connection: BaseDBAsyncClient,
    *,
    site_id: int,
    segment_id: int,
    external_ids: Sequence[str],
    mode: Mode,
    source: ListedSource = ListedSource.MANUAL,
    expires_at: datetime | None = None,
    create_missing: bool = False,
    dry_run: bool = False,
    now: datetime,
) -> ChangeResult:
    """ADD, OVERRIDE or DELETE listed members of a segment, by the site's external ids.

    ADD lists the ids (an expired listing is revived and counts as added; with
    ``expires_at``, live listings take that expiry too). OVERRIDE makes the listed
    members exactly the known ids. DELETE unlists them. ``create_missing`` (ADD,
    OVERRIDE) makes bare members for unknown ids; ``dry_run`` changes nothing.
    """
    if mode is not Mode.DELETE:
        _check_expiry(expires_at, now)
    listing = _Listing(source, expires_at, touch_expiry=expires_at is not None)
    return await _change(
        _context(connection, site_id, now),
        _MEMBERS,
        segment_id=segment_id,
        external_ids=external_ids,
        mode=mode,
        listing=listing,
        create_missing=create_missing,
        dry_run=dry_run,
    )


# the lists other than the listed members: rows with no source or expiry
_UNLISTED = {"companies": _COMPANIES, "exclusions": _EXCLUSIONS}


async def change_list(
    connection: BaseDBAsyncClient,
    *,
    lists: Literal["companies", "exclusions"],
    site_id: int,
    segment_id: int,
    external_ids: Sequence[str],
    mode: Mode,
    dry_run: bool = False,
    now: datetime,
) -> ChangeResult:
    """ADD, OVERRIDE or DELETE listed companies, or excluded members, of a segment, by the
    site's external ids; ``dry_run`` changes nothing."""
    return await _change(
        _context(connection, site_id, now),
        _UNLISTED[lists],
        segment_id=segment_id,
        external_ids=external_ids,
        mode=mode,
        listing=_Listing(),
        dry_run=dry_run,
    )
