"""The deliveries as a queue in the database: claim one, mark it, let it go again.

A delivery is claimed (PENDING -> SENDING) in its own committed transaction before its
message is sent, and marked (SENT / FAILED, or back to PENDING for a later attempt) after.
A claim is never handed out again, so a delivery is sent at most once; a claim left by a
worker that died mid-send is settled as FAILED once it is older than the claim timeout.
Each mark also closes its campaign when nothing is left to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import as_datetime, fetch, is_postgres, ts
from app.email.message import Content

ABANDONED = (
    "the worker sending it stopped before the server's answer was recorded;"
    " not sent again, so that no one is mailed twice (it may have been delivered)"
)

_CLAIM = """
UPDATE email_deliveries SET status = 'SENDING', claimed_at = $1, attempts = attempts + 1
 WHERE id = (SELECT id FROM email_deliveries
              WHERE status = 'PENDING' AND next_attempt_at <= $1
              ORDER BY next_attempt_at, id LIMIT 1{lock})
   AND status = 'PENDING'
RETURNING id, campaign_id, site_id, member_id, email, name, attempts
"""

_FINISH = """
UPDATE email_campaigns
   SET status = CASE WHEN EXISTS (SELECT 1 FROM email_deliveries d
                                   WHERE d.campaign_id = $1 AND d.status = 'SENT')
                     THEN 'SUCCEEDED' ELSE 'FAILED' END,
       finished_at = $2
 WHERE id = $1 AND status IN ('PENDING', 'RUNNING')
   AND NOT EXISTS (SELECT 1 FROM email_deliveries d
                    WHERE d.campaign_id = $1 AND d.status IN ('PENDING', 'SENDING'))
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    campaign_id: int
    site_id: int
    member_id: str
    email: str
    name: str | None
    attempts: int  # this one included


async def claim_next(now: datetime) -> Claimed | None:
    """Claim the delivery due first (committed before returning), or None when none is due."""
    async with in_transaction() as tx:
        # SKIP LOCKED: workers of other processes each take a different row, none waits
        lock = " FOR UPDATE SKIP LOCKED" if is_postgres(tx) else ""
        rows = await fetch(_CLAIM.format(lock=lock), [ts(now, tx)], tx)
        if not rows:
            return None
        row = rows[0]
        await fetch(
            "UPDATE email_campaigns SET status = 'RUNNING', started_at = $2"
            " WHERE id = $1 AND status = 'PENDING'",
            [row["campaign_id"], ts(now, tx)],
            tx,
        )
    return Claimed(
        id=int(row["id"]),
        campaign_id=int(row["campaign_id"]),
        site_id=int(row["site_id"]),
        member_id=row["member_id"],
        email=row["email"],
        name=row["name"],
        attempts=int(row["attempts"]),
    )


async def _settle(
    tx: BaseDBAsyncClient, claimed: Claimed, now: datetime, sets: str, params: list[Any]
) -> None:
    await fetch(
        f"UPDATE email_deliveries SET {sets} WHERE id = $1 AND status = 'SENDING'",
        [claimed.id, *params],
        tx,
    )
    await fetch(_FINISH, [claimed.campaign_id, ts(now, tx)], tx)


async def mark_sent(claimed: Claimed, now: datetime) -> None:
    async with in_transaction() as tx:
        await _settle(tx, claimed, now, "status = 'SENT', sent_at = $2", [ts(now, tx)])


async def mark_failed(claimed: Claimed, now: datetime, error: str) -> None:
    async with in_transaction() as tx:
        await _settle(tx, claimed, now, "status = 'FAILED', error = $2", [error])


async def release(
    claimed: Claimed, *, retry_at: datetime, error: str, attempted: bool = True
) -> None:
    """Back to PENDING, due at retry_at; attempted=False when nothing reached the server."""
    async with in_transaction() as tx:
        await fetch(
            "UPDATE email_deliveries SET status = 'PENDING', claimed_at = NULL,"
            " next_attempt_at = $2, error = $3, attempts = attempts - $4"
            " WHERE id = $1 AND status = 'SENDING'",
            [claimed.id, ts(retry_at, tx), error, 0 if attempted else 1],
            tx,
        )


async def next_due() -> datetime | None:
    """When the earliest waiting delivery is due (None: nothing waits)."""
    rows = await fetch(
        "SELECT MIN(next_attempt_at) AS due FROM email_deliveries WHERE status = 'PENDING'"
    )
    return as_datetime(rows[0]["due"]) if rows else None


async def settle_abandoned(*, now: datetime, claimed_before: datetime) -> int:
    """Claims older than claimed_before belong to a worker that died mid-send: FAILED."""
    async with in_transaction() as tx:
        rows = await fetch(
            "UPDATE email_deliveries SET status = 'FAILED', error = $2"
            " WHERE status = 'SENDING' AND claimed_at < $1 RETURNING campaign_id",
            [ts(claimed_before, tx), ABANDONED],
            tx,
        )
        for campaign_id in sorted({int(r["campaign_id"]) for r in rows}):
            await fetch(_FINISH, [campaign_id, ts(now, tx)], tx)
    return len(rows)


async def content(campaign_id: int) -> Content:
    rows = await fetch(
        "SELECT id, subject, text, html FROM email_campaigns WHERE id = $1", [campaign_id]
    )
    row = rows[0]
    return Content(
        campaign_id=int(row["id"]), subject=row["subject"], text=row["text"], html=row["html"]
    )
