"""The clock: listings whose expiry passed (EXPIRED), and the rules counting days back from
now re-evaluated (TIME); run by every writer (expiries) and by the sweeper (both)."""

from __future__ import annotations

from typing import Any

from app.db import ts
from app.memberships import catalogue
from app.memberships.dependencies import dependents, uses_clock
from app.memberships.kept import NOTHING, Writer, Written, company_listed, emit, excluded, matched
from app.memberships.refresh import cascade, refresh


async def expire_listings(w: Writer, since: Any) -> Written:
    """EXPIRED for the listings whose expiry passed in (since, now] (stamped at it), then
    their dependents; moves the site's expiry watermark (``expired_to``) to now."""
    p = w.params()
    now = p.add(w.now, "timestamptz")
    start = p.add(since, "timestamptz") if since is not None else None
    window = f"l.site_id = {int(w.site_id)} AND l.expires_at IS NOT NULL AND l.expires_at <= {now}"
    if start is not None:
        window += f" AND l.expires_at > {start}"
    due = await w.rows(f"SELECT 1 AS due FROM segment_members l WHERE {window} LIMIT 1", p.values)
    if not due:
        return NOTHING
    written = await emit(
        w,
        "SELECT l.segment_id, l.member_id, m.external_id AS member_ref, 'EXITED' AS kind,"
        " 'EXPIRED' AS cause, l.expires_at AS at FROM segment_members l"
        f" JOIN members m ON m.id = l.member_id WHERE {window}"
        f" AND NOT {company_listed('l.segment_id', 'm.company_id')}"
        f" AND NOT {matched('l.segment_id', 'l.member_id')}"
        f" AND NOT {excluded('l.segment_id', 'l.member_id')}"
        " ORDER BY l.expires_at, l.id",
        p.values,
    )
    await w.run(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [ts(w.now, w.tx), w.site_id],
    )
    await cascade(w, written)
    return written


async def clock_rules(w: Writer) -> Written:
    """TIME: the DYNAMIC rules that count days back from now (and those naming them)
    re-evaluated over every member of the site; the site's ``swept_at`` moves to now."""
    await w.run(
        "UPDATE membership_sites SET swept_at = $1 WHERE site_id = $2",
        [ts(w.now, w.tx), w.site_id],
    )
    cat = await catalogue.get(w.site_id, connection=w.tx)
    clocked = [s for s in cat.dynamic if uses_clock(s)]
    if not clocked:
        return NOTHING
    todo = clocked + [s for s in dependents(cat, [c.pk for c in clocked]) if s not in clocked]
    return await refresh(w, cat, todo, scoped=False, cause="TIME", nested=len(todo) > 1)
