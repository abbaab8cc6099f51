"""Moving listed members from one segment to another (or only out), set-based: the ids
resolved once, the listings read, carried to the target with their expiry and unlisted from
the source, by the statements of app.memberships.bulk. On the caller's transaction; the
membership path has locked both segments."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params
from app.memberships import flips, kept, lock, refresh
from app.memberships.bulk import (
    _IDS,
    _MEMBERS,
    ChangeResult,
    Mode,
    _context,
    _create_table,
    _Ctx,
    _dedupe,
    _delete,
    _drop_tables,
    _finish_table,
    _join_listed,
    _Listing,
    _load_ids,
    _plan,
    _result,
    _upsert,
)

_MOVE = "_bulk_move"  # the listings a move carries to its target


async def move_members(
    connection: BaseDBAsyncClient,
    *,
    site_id: int,
    from_segment_id: int,
    to_segment_id: int | None,
    external_ids: Sequence[str] | None,
    now: datetime,
) -> tuple[ChangeResult, ChangeResult | None]:
    """Move listed members from one segment to another (or only out, without a target).

    Without ids (None), every listing of the source moves; with ids, the listings of
    those members (an empty list moves nothing). Only live listings move, each with
    its expiry, as MANUAL listings added to the target (ADD semantics; a live listing
    already in the target is kept as it is); expired listings of the moved ids are
    dropped. Returns the removal from the source (as a DELETE: unknown and unlisted
    ids are reported there) and the addition to the target (None without a target).
    """
    if from_segment_id == to_segment_id:
        raise ValueError("cannot move members of a segment to the same segment")
    ctx = _context(connection, site_id, now)
    if external_ids is None:
        await _load_listed(ctx, from_segment_id)
        removal = await _plan(ctx, _MEMBERS, from_segment_id, Mode.DELETE, _MOVE, create=False)
    else:
        await _load_ids(ctx, _dedupe(external_ids), "members", buckets=False)
        await _finish_table(ctx, _IDS)
        removal = await _plan(ctx, _MEMBERS, from_segment_id, Mode.DELETE, _IDS, create=False)
        await _load_moved(ctx, from_segment_id)
    addition = None
    writer = kept.Writer(connection, site_id, ctx.now)
    await lock.ensure_site(site_id, connection, ctx.now)
    written = await flips.before_move(writer, from_segment_id, to_segment_id, _MOVE)
    if to_segment_id is not None:
        addition = await _plan(ctx, _MEMBERS, to_segment_id, Mode.ADD, _MOVE, create=False)
        await _upsert(ctx, _MEMBERS, to_segment_id, _MOVE, _Listing(from_rows=True))
    await _unlist_moved(ctx, from_segment_id, everything=external_ids is None)
    changed = [from_segment_id] if to_segment_id is None else [from_segment_id, to_segment_id]
    await refresh.cascade(writer, written, changed)
    await _drop_tables(ctx, _IDS, _MOVE)
    removed = _result(removal, Mode.DELETE, created=0, would_create=0)
    added = None if addition is None else _result(addition, Mode.ADD, created=0, would_create=0)
    return removed, added


async def _load_listed(ctx: _Ctx, segment_id: int) -> None:
    """Fill _MOVE with every live listing of the segment, in listing order."""
    p = ctx.params()
    await _fill_move(
        ctx,
        "SELECT l.id, e.external_id, l.member_id, l.expires_at FROM segment_members l"
        f" JOIN members e ON e.id = l.member_id WHERE l.segment_id = {p(segment_id, 'bigint')}"
        f" AND l.site_id = {p(ctx.site_id, 'bigint')} AND {ctx.live(p, _MEMBERS, 'l')}",
        p,
    )


async def _load_moved(ctx: _Ctx, segment_id: int) -> None:
    """Fill _MOVE with the live listings of the segment among the resolved ids of _IDS."""
    p = ctx.params()
    await _fill_move(
        ctx,
        "SELECT b.ord, b.external_id, b.ref_id, l.expires_at"
        f" FROM {_join_listed(ctx, p, _MEMBERS, segment_id, _IDS)} WHERE l.id IS NOT NULL",
        p,
    )


async def _fill_move(ctx: _Ctx, select: str, p: Params) -> None:
    """Make _MOVE and fill it with the rows of ``select`` (ord, external id, member pk,
    listing expiry), whose parameters are ``p``."""
    await _create_table(ctx, _MOVE)
    await ctx.run(f"INSERT INTO {_MOVE} (ord, external_id, ref_id, expires_at) {select}", p)
    await _finish_table(ctx, _MOVE)


async def _unlist_moved(ctx: _Ctx, segment_id: int, *, everything: bool) -> None:
    if not everything:
        await _delete(ctx, _MEMBERS, segment_id, _IDS, inside=True)
        return
    p = ctx.params()
    await ctx.run(
        f"DELETE FROM segment_members WHERE segment_id = {p(segment_id, 'bigint')}"
        f" AND site_id = {p(ctx.site_id, 'bigint')}",
        p,
    )
