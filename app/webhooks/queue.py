"""The webhooks as a queue in the database: claim a webhook, take its next batch, settle it.

A worker claims one webhook at a time (a lease in ``claimed_until``, committed before anything
is sent; SKIP LOCKED lets the workers of other processes each take a different one), so each
batch goes out through one worker. A webhook has at most one PENDING delivery: the next batch
is made only once it has SUCCEEDED, so batches arrive in order. The delivery row, with its
range of the record, is committed before its first attempt: a worker that dies mid-send leaves
it PENDING, and the next worker to claim the webhook (once the lease has run out) sends it
again, under the same id, with the same body: the sweeper's pruning keeps the record rows an
enabled webhook still owes (past its cursor, or in its PENDING delivery's range). Changes
pruned anyway (a webhook disabled for longer than the retained history, or widened to
segments whose old changes have gone) are never sent empty or in part: the batch is settled
FAILED with the pruned range as its error and the cursor moves past it (``_lost``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.changes.feed import changes_select, pruned_to
from app.db import (
    any_of,
    as_datetime,
    claim_one,
    execute,
    fetch,
    ids_param,
    is_postgres,
    json_value,
    ts,
)
from app.webhooks.models import NO_SEGMENT_LEFT, DeliveryStatus, WebhookDelivery

_CLAIM = """
UPDATE webhooks SET claimed_until = $2
 WHERE id = (SELECT w.id FROM webhooks w
              WHERE w.enabled
                AND (w.claimed_until IS NULL OR w.claimed_until <= $1)
                AND (w.next_attempt_at IS NULL OR w.next_attempt_at <= $1)
                AND (EXISTS (SELECT 1 FROM webhook_deliveries d
                              WHERE d.webhook_id = w.id AND d.status = 'PENDING')
                     OR EXISTS (SELECT 1 FROM membership_changes c
                                 WHERE c.site_id = w.site_id AND c.id > w.cursor
                                   AND (w.segment_ids IS NULL OR {watched})))
              ORDER BY w.id LIMIT 1{lock})
   AND enabled AND (claimed_until IS NULL OR claimed_until <= $1)
RETURNING id, site_id, url, secret, segment_ids, draining_segment_ids, cursor, failing_since,
          claimed_until
"""


@dataclass(frozen=True)
class Claimed:
    """A webhook this worker holds until ``until`` (or until it settles or releases it)."""

    id: int
    site_id: int
    url: str
    secret: str
    # the segments its batches read: its segment_ids and the deleted ones it has still to
    # deliver the last changes of (None: every segment of its site)
    segment_ids: list[int] | None
    cursor: int
    failing_since: datetime | None
    until: datetime


@dataclass(frozen=True)
class Delivery:
    id: int
    webhook_id: int
    site_id: int
    after_change: int
    last_change: int
    segment_ids: list[int] | None
    attempts: int  # this one included
    # its changes, read once before the attempt (the count it was made with: see next_delivery)
    rows: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class ChangeRow:
    id: int
    segment_id: int
    member_ref: str
    kind: str
    cause: str
    at: datetime


def _segments(value: Any) -> list[int] | None:
    loaded = json_value(value)
    return None if loaded is None else [int(x) for x in loaded]


def watched_sql(pg: bool) -> str:
    """SQL: change ``c`` is of a segment webhook ``w`` names, or of a deleted one it named
    whose last changes it has still to deliver (w.segment_ids null, every segment of its
    site, is the caller's to add)."""
    if pg:
        return (
            "(w.segment_ids @> to_jsonb(c.segment_id)"
            " OR w.draining_segment_ids @> to_jsonb(c.segment_id))"
        )
    return (
        "(c.segment_id IN (SELECT value FROM json_each(w.segment_ids))"
        " OR c.segment_id IN (SELECT value FROM json_each(w.draining_segment_ids)))"
    )


def _claim_sql() -> str:
    # a change of a segment it watches (segment_ids null: every segment of its site); one of
    # another segment is no work for it (its batch would be empty)
    return _CLAIM.replace("{watched}", watched_sql(is_postgres()))


def _reading(segment_ids: list[int] | None, draining: list[int] | None) -> list[int] | None:
    """The segments a webhook's next batch reads."""
    if segment_ids is None:
        return None
    return [*segment_ids, *(p for p in draining or [] if p not in segment_ids)]


async def claim(now: datetime, until: datetime) -> Claimed | None:
    """Claim the first webhook with work due (a PENDING delivery, or changes past its cursor
    in a segment it watches)."""
    row = await claim_one(_claim_sql(), [ts(now), ts(until)])
    if row is None:
        return None
    return Claimed(
        id=int(row["id"]),
        site_id=int(row["site_id"]),
        url=row["url"],
        secret=row["secret"],
        segment_ids=_reading(_segments(row["segment_ids"]), _segments(row["draining_segment_ids"])),
        cursor=int(row["cursor"]),
        failing_since=as_datetime(row["failing_since"]),
        until=until,
    )


async def release(claimed: Claimed) -> None:
    """Let the webhook go without settling anything (nothing was sent), unless the claim ran
    out and another worker holds it now."""
    await execute(
        "UPDATE webhooks SET claimed_until = NULL WHERE id = $1 AND claimed_until = $2",
        [claimed.id, ts(claimed.until)],
    )


async def _between(
    site_id: int, after: int, upto: int, segment_ids: list[int] | None, limit: int | None = None
) -> list[Any]:
    """The site's changes after ``after`` up to ``upto``, in their order, of the segments
    given (None: every segment), at most ``limit`` of them."""
    params: list[Any] = [site_id, after, upto]
    where = "c.site_id = $1"
    if segment_ids is not None:
        params.append(ids_param(segment_ids))
        where += " AND " + any_of("c.segment_id", f"${len(params)}", pg_type="bigint")
    text = changes_select(is_postgres(), where, after="$2", upto="$3")
    if limit is not None:
        params.append(limit)
        text += f" LIMIT ${len(params)}"
    return list(await fetch(text, params))


async def _pending(webhook_id: int) -> dict[str, Any] | None:
    rows = await fetch(
        "SELECT id, after_change, last_change, segment_ids, change_count FROM webhook_deliveries"
        " WHERE webhook_id = $1 AND status = 'PENDING' ORDER BY id LIMIT 1",
        [webhook_id],
    )
    return rows[0] if rows else None


async def _new_batch(claimed: Claimed, batch_size: int, now: datetime) -> dict[str, Any] | None:
    """The next batch past the cursor, written as a PENDING delivery with the cursor moved past
    it in one transaction; None when the changes past the cursor are none of its segments."""
    site, cursor = claimed.site_id, claimed.cursor
    # the end first, then the batch within it: a change committed between the two statements
    # (its id above the end) is left for the next batch, never skipped
    end_rows = await fetch(
        "SELECT MAX(id) AS last FROM membership_changes WHERE site_id = $1 AND id > $2",
        [site, cursor],
    )
    if not end_rows or end_rows[0]["last"] is None:
        return None
    end = int(end_rows[0]["last"])
    ids = await _between(site, cursor, end, claimed.segment_ids, limit=batch_size)
    # the marks after the read: a prune committed before it is seen here
    gone = await pruned_to(site_id=site, segment_pks=claimed.segment_ids)
    if gone > cursor:  # changes of its segments past the cursor were pruned: say so, skip them
        await _lost(claimed, after=cursor, upto=gone, now=now, pending_id=None)
        return None
    last = int(ids[-1]["id"]) if len(ids) == batch_size else end
    async with in_transaction() as tx:
        moved = await execute(
            "UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor = $3 AND enabled",
            [claimed.id, last, cursor],
            tx,
        )
        if not moved:  # another worker took it over (our lease ran out)
            return None
        if not ids:  # none of its segments' changes: nothing to deliver up to there
            await _drained(tx, claimed.id, last)
            return None
        made = await WebhookDelivery.create(
            using_db=tx,
            site_id=site,
            webhook_id=claimed.id,
            after_change=cursor,
            last_change=last,
            segment_ids=claimed.segment_ids,
            change_count=len(ids),
            created_at=now,
        )
    return {
        "id": made.id,
        "after_change": cursor,
        "last_change": last,
        "segment_ids": claimed.segment_ids,
        "change_count": len(ids),
    }


async def _lost(
    claimed: Claimed, *, after: int, upto: int, now: datetime, pending_id: int | None
) -> None:
    """Changes of the webhook's segments after ``after`` up to ``upto`` were pruned from the
    record before they were delivered: the PENDING delivery holding them (``pending_id``), or
    else a new one naming the range, is settled FAILED with that reason (nothing is sent),
    and the webhook's cursor moves to ``upto`` (its later changes go on being delivered)."""
    reason = (
        f"not sent: changes after {after} up to {upto} were pruned from the membership record"
        " (older than MEMBERSHIP_HISTORY_DAYS) before they were delivered;"
        f" the webhook goes on after change {upto}"
    )
    async with in_transaction() as tx:
        if pending_id is not None:
            # the cursor is past the pending batch: it goes back to the end of what was lost
            # (the batch's changes after it are sent again in a new batch), never forward
            done = await fetch(
                "UPDATE webhook_deliveries SET status = 'FAILED', error = $2"
                " WHERE id = $1 AND status = 'PENDING' RETURNING last_change",
                [pending_id, reason],
                tx,
            )
            if not done:
                return
            upto = min(upto, int(done[0]["last_change"]))
            await execute(
                "UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor = $3",
                [claimed.id, upto, done[0]["last_change"]],
                tx,
            )
            await _drained(tx, claimed.id, upto)
            return
        moved = await execute(
            "UPDATE webhooks SET cursor = $2 WHERE id = $1 AND cursor = $3 AND enabled",
            [claimed.id, upto, after],
            tx,
        )
        if not moved:  # another worker took it over (our lease ran out)
            return
        await WebhookDelivery.create(
            using_db=tx,
            site_id=claimed.site_id,
            webhook_id=claimed.id,
            after_change=after,
            last_change=upto,
            segment_ids=claimed.segment_ids,
            change_count=0,
            status=DeliveryStatus.FAILED,
            error=reason,
            created_at=now,
        )
        await _drained(tx, claimed.id, upto)


async def next_delivery(claimed: Claimed, *, batch_size: int, now: datetime) -> Delivery | None:
    """The claimed webhook's PENDING delivery, or else a new one of its next batch, with this
    attempt counted and its changes read; None when it has nothing to send. A delivery whose
    changes are no longer all in the record (pruned) is settled FAILED instead (``_lost``):
    an attempt sends exactly the changes the delivery was made with, or nothing."""
    row = await _pending(claimed.id) or await _new_batch(claimed, batch_size, now)
    if row is None:
        return None
    after, last = int(row["after_change"]), int(row["last_change"])
    segment_ids = _segments(row["segment_ids"])
    rows = await _between(claimed.site_id, after, last, segment_ids)
    if len(rows) != int(row["change_count"]):
        gone = await pruned_to(site_id=claimed.site_id, segment_pks=segment_ids)
        upto = min(gone, last) if gone > after else last
        await _lost(claimed, after=after, upto=upto, now=now, pending_id=int(row["id"]))
        return None
    counted = await fetch(
        "UPDATE webhook_deliveries SET attempts = attempts + 1"
        " WHERE id = $1 AND status = 'PENDING' RETURNING attempts",
        [row["id"]],
    )
    if not counted:
        return None
    return Delivery(
        id=int(row["id"]),
        webhook_id=claimed.id,
        site_id=claimed.site_id,
        after_change=int(row["after_change"]),
        last_change=int(row["last_change"]),
        segment_ids=segment_ids,
        attempts=int(counted[0]["attempts"]),
        rows=tuple(rows),
    )


async def changes(delivery: Delivery) -> list[ChangeRow]:
    """The changes of a delivery, in their order: the same rows at every attempt (read by
    next_delivery, checked whole; read here for a delivery made without them)."""
    rows = delivery.rows or tuple(
        await _between(
            delivery.site_id, delivery.after_change, delivery.last_change, delivery.segment_ids
        )
    )
    return [
        ChangeRow(
            id=int(r["id"]),
            segment_id=int(r["segment_id"]),
            member_ref=r["member_ref"],
            kind=str(r["kind"]),
            cause=str(r["cause"]),
            at=as_datetime(r["at"]),  # type: ignore[arg-type]  # never null
        )
        for r in rows
    ]


async def _drained(tx: BaseDBAsyncClient, webhook_id: int, upto: int) -> None:
    """Changes up to ``upto`` are delivered (or none of them was the webhook's): the deleted
    segments whose last change that passes are dropped; a webhook then left with no segment
    is disabled, saying why (it never widens to every segment)."""
    rows = await fetch(
        "UPDATE webhooks SET draining_segment_ids = NULL, draining_until = NULL"
        " WHERE id = $1 AND draining_until <= $2 RETURNING segment_ids",
        [webhook_id, upto],
        tx,
    )
    if rows and _segments(rows[0]["segment_ids"]) == []:
        await execute(
            "UPDATE webhooks SET enabled = $2, disabled_reason = $3 WHERE id = $1",
            [webhook_id, False, NO_SEGMENT_LEFT],
            tx,
        )


async def succeeded(delivery: Delivery, *, status: int, now: datetime) -> None:
    """The receiver took it: SUCCEEDED, and the webhook free for its next batch."""
    async with in_transaction() as tx:
        await execute(
            "UPDATE webhook_deliveries SET status = 'SUCCEEDED', response_status = $2,"
            " error = NULL, delivered_at = $3 WHERE id = $1 AND status = 'PENDING'",
            [delivery.id, status, ts(now, tx)],
            tx,
        )
        await execute(
            "UPDATE webhooks SET failing_since = NULL, next_attempt_at = NULL,"
            " claimed_until = NULL WHERE id = $1",
            [delivery.webhook_id],
            tx,
        )
        await _drained(tx, delivery.webhook_id, delivery.last_change)


async def _attempt_failed(
    tx: BaseDBAsyncClient, delivery: Delivery, status: int | None, error: str, *, given_up: bool
) -> None:
    """The pending delivery's failed attempt (the answer's status, the error), and FAILED
    when it is given up."""
    failed = "status = 'FAILED', " if given_up else ""
    await execute(
        f"UPDATE webhook_deliveries SET {failed}response_status = $2, error = $3"
        " WHERE id = $1 AND status = 'PENDING'",
        [delivery.id, status, error],
        tx,
    )


async def retry_later(
    delivery: Delivery,
    *,
    status: int | None,
    error: str,
    failing_since: datetime,
    retry_at: datetime,
) -> None:
    """The attempt failed: the delivery stays PENDING, the webhook waits until retry_at."""
    async with in_transaction() as tx:
        await _attempt_failed(tx, delivery, status, error, given_up=False)
        await execute(
            "UPDATE webhooks SET failing_since = $2, next_attempt_at = $3, claimed_until = NULL"
            " WHERE id = $1",
            [delivery.webhook_id, ts(failing_since, tx), ts(retry_at, tx)],
            tx,
        )


async def give_up(delivery: Delivery, *, status: int | None, error: str, reason: str) -> None:
    """Failed for too long: the delivery FAILED and the webhook disabled, its cursor back
    before the batch, so that enabling it again sends those changes first."""
    async with in_transaction() as tx:
        await _attempt_failed(tx, delivery, status, error, given_up=True)
        await execute(
            "UPDATE webhooks SET enabled = $2, disabled_reason = $3, cursor = $4,"
            " failing_since = NULL, next_attempt_at = NULL, claimed_until = NULL WHERE id = $1",
            [delivery.webhook_id, False, reason, delivery.after_change],
            tx,
        )


async def next_due(now: datetime) -> datetime | None:
    """When the earliest webhook waiting to retry is due (None: none waits). One claimed by a
    worker is left out: it is being sent to (its worker wakes its own loop when done)."""
    rows = await fetch(
        "SELECT MIN(next_attempt_at) AS due FROM webhooks"
        " WHERE enabled AND next_attempt_at IS NOT NULL"
        " AND (claimed_until IS NULL OR claimed_until <= $1)",
        [ts(now)],
    )
    return as_datetime(rows[0]["due"]) if rows else None


async def prune(*, before: datetime, limit: int = 10_000) -> int:
    """Delete up to ``limit`` settled deliveries made before ``before``; how many went."""
    rows = await fetch(
        "DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM webhook_deliveries"
        " WHERE status <> 'PENDING' AND created_at < $1 ORDER BY id LIMIT $2) RETURNING id",
        [ts(before), limit],
    )
    return len(rows)
