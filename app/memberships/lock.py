"""The site's membership lock: every writer of a site's membership takes it first.

``ensure_site`` holds the site's lock to the commit of the caller's transaction; on first use of
a site it builds the site's kept rows from scratch (app.memberships.rebuild) and, on every use,
records the listing expiries due since the last one (app.memberships.clock). ``try_lock`` is the
sweeper's: it skips a site another transaction holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import execute, fetch, is_postgres, ts
from app.memberships.clock import expire_listings
from app.memberships.kept import Writer
from app.memberships.rebuild import rebuild

_LOCKED = "_membership_sites_locked"  # attribute of a transaction: the sites it has locked


async def ensure_site(
    site_id: int, tx: BaseDBAsyncClient, now: datetime, *, expire: bool = True
) -> None:
    """Hold the site's membership lock until ``tx`` ends (once per transaction): on first use
    of a site build its kept rows from scratch (``rebuild``, no records: its history starts
    now); then record the listing expiries due since the last writer or sweep (EXPIRED)."""
    locked: set[int] | None = getattr(tx, _LOCKED, None)
    if locked is not None and site_id in locked:
        return
    if is_postgres(tx):
        # the statements here are estimated on temporary tables without statistics: the
        # planner's guesses make PostgreSQL JIT-compile them, which costs more than running
        # them (measured: 470 of 800 ms recording 33,000 changes). For this transaction only.
        await execute("SET LOCAL jit = off", [], tx)
        # a write's sets (the facts of thousands of members, their kept matches, the changes
        # to sort) spill to disk at the default 4 MB and are read back once a rule: measured
        # 350 MB of temporary reads for 10,000 upserted members and 100 rules. For this
        # transaction only.
        await execute("SET LOCAL work_mem = '64MB'", [], tx)
    made = await fetch(
        "INSERT INTO membership_sites (site_id, history_from, swept_at, expired_to)"
        " VALUES ($1, $2, $2, $2)"
        " ON CONFLICT (site_id) DO NOTHING RETURNING id",
        [site_id, ts(now, tx)],
        tx,
    )
    lock = " FOR UPDATE" if is_postgres(tx) else ""
    row = (
        await fetch(
            f"SELECT expired_to FROM membership_sites WHERE site_id = $1{lock}", [site_id], tx
        )
    )[0]
    if locked is None:
        locked = set()
        setattr(tx, _LOCKED, locked)
    locked.add(site_id)
    writer = Writer(tx, site_id, now)
    if made:
        await rebuild(writer)
    elif expire:
        await expire_listings(writer, row["expired_to"])


BUSY: Any = object()  # try_lock: another transaction holds the site's lock


async def try_lock(w: Writer) -> Any:
    """The sweeper's ensure_site: the site's lock unless another transaction holds it
    (``BUSY``; PostgreSQL), and the site's expiry watermark (now when its kept rows were
    just built: nothing is due before now)."""
    rows = await w.rows(
        "SELECT expired_to FROM membership_sites WHERE site_id = $1"
        + (" FOR UPDATE SKIP LOCKED" if w.pg else ""),
        [w.site_id],
    )
    if rows:
        setattr(w.tx, _LOCKED, {w.site_id})
        return rows[0]["expired_to"]
    exists = await w.rows("SELECT 1 AS x FROM membership_sites WHERE site_id = $1", [w.site_id])
    if exists:
        return BUSY
    await ensure_site(w.site_id, w.tx, w.now, expire=False)
    return w.now
