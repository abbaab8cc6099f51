"""The membership sweeper: what only the clock changes, and the record's pruning.

Every MEMBERSHIP_SWEEP_SECONDS, for each site in turn, in one transaction that holds the
site's membership lock: listing expiries due since the site's watermark (``swept_at``) are
recorded EXPIRED, stamped at the moment the listing expired; the DYNAMIC rules that count
``days_ago()`` (and those naming them through ``in_segment()``) are re-evaluated over the
site's members (TIME, stamped at the sweep). Then records older than MEMBERSHIP_HISTORY_DAYS
are deleted in bounded batches, each its own short transaction (their member index entries
with them, the site's prune marks raised), but for those an enabled webhook still owes, and
the rows recorded since the last sweep are indexed by member
(app.changes.index), in batches of their own.

Several processes may sweep: on PostgreSQL a site whose lock another transaction holds is
skipped (``FOR UPDATE SKIP LOCKED``), and every writer records the expiries due before its
own write anyway (app.memberships.lock.ensure_site). A site never written since migration
0009 gets its kept rows built on its first sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.background import started
from app.changes import index
from app.db import execute, fetch, is_postgres, ts
from app.memberships import clock, kept, lock
from app.settings import Settings

log = logging.getLogger("segments.sweeper")

PRUNE_BATCH = 5_000


@dataclass
class Swept:
    """What one sweep did, over every site."""

    sites: int = 0
    skipped: int = 0  # locked by a writer: the next sweep will take them
    expired: int = 0
    clocked: int = 0
    pruned: int = 0
    indexed: int = 0  # changes whose members went into the member index


async def sweep(
    *,
    now: datetime | None = None,
    history_days: int = 90,
    prune_batch: int = PRUNE_BATCH,
    index_members: bool = True,
) -> Swept:
    """One sweep of every site at ``now`` (default: the clock), then (``index_members``) the
    site's rows recorded since the last into the member index (app.changes.index)."""
    moment = now or datetime.now(UTC)
    done = Swept()
    for row in await fetch("SELECT id FROM sites ORDER BY id"):
        site_id = int(row["id"])
        async with in_transaction() as tx:
            w = kept.Writer(tx, site_id, moment)
            since = await lock.try_lock(w)
            if since is lock.BUSY:
                done.skipped += 1
                continue
            done.sites += 1
            done.expired += (await clock.expire_listings(w, since)).count
            done.clocked += (await clock.clock_rules(w)).count
        done.pruned += await prune(site_id, moment - timedelta(days=history_days), prune_batch)
        if index_members:
            done.indexed += await index.index_site(site_id)
    return done


# A row an enabled webhook of the site has still to deliver: past its cursor, of a segment
# it reads, or within its PENDING delivery's range (whose body is re-read at every attempt,
# and must be the same). Disabled webhooks hold nothing back: enabled again, what they lost
# is told (app.webhooks.queue), never sent empty.
_OWED = """
EXISTS (SELECT 1 FROM webhooks w
         WHERE w.site_id = c.site_id AND w.enabled
           AND ((c.id > w.cursor AND (w.segment_ids IS NULL OR {watched}))
                OR EXISTS (SELECT 1 FROM webhook_deliveries d
                            WHERE d.webhook_id = w.id AND d.status = 'PENDING'
                              AND c.id > d.after_change AND c.id - c.size < d.last_change
                              AND (d.segment_ids IS NULL OR {delivered}))))
"""

_MARK = (
    "INSERT INTO membership_prune_marks (site_id, segment_id, pruned_to) VALUES ($1, $2, $3)"
    " ON CONFLICT (site_id, segment_id) DO UPDATE SET pruned_to = CASE"
    " WHEN excluded.pruned_to > membership_prune_marks.pruned_to THEN excluded.pruned_to"
    " ELSE membership_prune_marks.pruned_to END"
)


def _contains(pg: bool, column: str) -> str:
    if pg:
        return f"{column} @> to_jsonb(c.segment_id)"
    return f"c.segment_id IN (SELECT value FROM json_each({column}))"


def _owed(pg: bool) -> str:
    watched = f"({_contains(pg, 'w.segment_ids')} OR {_contains(pg, 'w.draining_segment_ids')})"
    return _OWED.replace("{watched}", watched).replace(
        "{delivered}", _contains(pg, "d.segment_ids")
    )


async def prune(site_id: int, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Delete the site's records older than ``before``, ``batch`` rows at a time (oldest
    first), and move the start of its history there; how many changes went. A row an
    enabled webhook has still to deliver is kept until it has (``_OWED``). Each batch raises
    the site's prune marks (per segment, the last change id deleted: migration 0018) in the
    transaction that deletes, so a reader past a mark knows it lost nothing, one before it
    that it may have. Several sweepers may prune a site at once: a row is deleted once (the
    other's DELETE finds it gone) and a mark only ever grows."""
    pruned = 0
    owed = _owed(is_postgres())
    while True:
        async with in_transaction() as tx:
            ids = await fetch(
                "SELECT c.id FROM membership_changes c WHERE c.site_id = $1 AND c.at < $2"
                f" AND NOT {owed} ORDER BY c.id LIMIT {int(batch)}",
                [site_id, ts(before, tx)],
                tx,
            )
            if not ids:
                break
            marks = ", ".join(str(int(r["id"])) for r in ids)
            await index.prune_rows(site_id, [int(r["id"]) for r in ids], tx)
            gone = await fetch(
                f"DELETE FROM membership_changes WHERE id IN ({marks})"
                " RETURNING id, segment_id, size",
                [],
                tx,
            )
            last: dict[int, int] = {}
            for r in gone:
                segment = int(r["segment_id"])
                last[segment] = max(last.get(segment, 0), int(r["id"]))
            for segment, upto in sorted(last.items()):
                await execute(_MARK, [site_id, segment, upto], tx)
            await execute(
                "UPDATE membership_sites SET history_from = $2 WHERE site_id = $1"
                " AND history_from < $2",
                [site_id, ts(before, tx)],
                tx,
            )
        # the changes pruned (a row holds its write's changes of one moment: see kept)
        pruned += sum(int(r["size"]) for r in gone)
        if len(ids) < batch:
            break
    return pruned


class Sweeper:
    """The sweeping task of a server process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._task: asyncio.Task[None] | None = None

    async def _loop(self) -> None:
        while True:
            try:
                done = await sweep(history_days=self.settings.membership_history_days)
                if done.expired or done.clocked or done.pruned or done.indexed:
                    log.info(
                        "membership sweep",
                        extra={
                            "expired": done.expired,
                            "clocked": done.clocked,
                            "pruned": done.pruned,
                            "indexed": done.indexed,
                            "skipped": done.skipped,
                        },
                    )
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed sweep is retried at the next tick
                log.exception("membership sweep failed")
            await asyncio.sleep(self.settings.membership_sweep_seconds)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="membership-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def running(settings: Settings) -> AbstractAsyncContextManager[Sweeper | None]:
    """The sweeper for an app's lifespan (none when MEMBERSHIP_SWEEPER is off)."""
    return started(Sweeper(settings) if settings.membership_sweeper else None)
