"""The deliveries as a queue in the database: claim one, mark it, let it go again.

A delivery is claimed (PENDING -> SENDING) in its own committed transaction before its
message is sent, and marked (SENT / FAILED, or back to PENDING for a later attempt) after.
A claim is never handed out again, so a delivery is sent at most once; a claim left by a
worker that died mid-send is settled as FAILED once it is older than the claim timeout.
A campaign is closed (SUCCEEDED / FAILED) by the worker when it runs out of due work, and
on every sweep, once none of its deliveries is left to send.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.db import as_datetime, claim_one, fetch, ts
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
                                   WHERE d.campaign_id = email_campaigns.id AND d.status = 'SENT')
                     THEN 'SUCCEEDED' ELSE 'FAILED' END,
       finished_at = $1
 WHERE status IN ('PENDING', 'RUNNING')
   AND NOT EXISTS (SELECT 1 FROM email_deliveries d
                    WHERE d.campaign_id = email_campaigns.id AND d.status IN ('PENDING', 'SENDING'))
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


# Each step below is one statement, committed on its own: a claim is durable before the
# message goes out, a mark right after, and nothing else waits on them.


async def claim_next(now: datetime) -> Claimed | None:
    """Claim the delivery due first, or None when none is due."""
    row = await claim_one(_CLAIM, [ts(now)])
    if row is None:
        return None
    return Claimed(
        id=int(row["id"]),
        campaign_id=int(row["campaign_id"]),
        site_id=int(row["site_id"]),
        member_id=row["member_id"],
        email=row["email"],
        name=row["name"],
        attempts=int(row["attempts"]),
    )


async def start_campaign(campaign_id: int, now: datetime) -> None:
    """PENDING -> RUNNING, the first time a worker takes one of its deliveries."""
    await fetch(
        "UPDATE email_campaigns SET status = 'RUNNING', started_at = $2"
        " WHERE id = $1 AND status = 'PENDING'",
        [campaign_id, ts(now)],
    )


async def _settle(claimed: Claimed, sets: str, params: list[Any]) -> None:
    await fetch(
        f"UPDATE email_deliveries SET {sets} WHERE id = $1 AND status = 'SENDING'",
        [claimed.id, *params],
    )


async def mark_sent(claimed: Claimed, now: datetime) -> None:
    await _settle(claimed, "status = 'SENT', sent_at = $2", [ts(now)])


async def mark_failed(claimed: Claimed, error: str) -> None:
    await _settle(claimed, "status = 'FAILED', error = $2", [error])


async def release(
    claimed: Claimed, *, retry_at: datetime, error: str, attempted: bool = True
) -> None:
    """Back to PENDING, due at retry_at; attempted=False when nothing reached the server."""
    await _settle(
        claimed,
        "status = 'PENDING', claimed_at = NULL, next_attempt_at = $2, error = $3,"
        " attempts = attempts - $4",
        [ts(retry_at), error, 0 if attempted else 1],
    )


async def finish_campaigns(now: datetime) -> None:
    """Close every open campaign with nothing left to send: SUCCEEDED if one was sent."""
    await fetch(_FINISH, [ts(now)])


async def next_due() -> datetime | None:
    """When the earliest waiting delivery is due (None: nothing waits)."""
    rows = await fetch(
        "SELECT MIN(next_attempt_at) AS due FROM email_deliveries WHERE status = 'PENDING'"
    )
    return as_datetime(rows[0]["due"]) if rows else None


async def settle_abandoned(*, claimed_before: datetime) -> int:
    """Claims older than claimed_before belong to a worker that died mid-send: FAILED."""
    rows = await fetch(
        "UPDATE email_deliveries SET status = 'FAILED', error = $2"
        " WHERE status = 'SENDING' AND claimed_at < $1 RETURNING id",
        [ts(claimed_before), ABANDONED],
    )
    return len(rows)


async def content(campaign_id: int) -> Content:
    rows = await fetch(
        "SELECT id, subject, text, html FROM email_campaigns WHERE id = $1", [campaign_id]
    )
    row = rows[0]
    return Content(
        campaign_id=int(row["id"]), subject=row["subject"], text=row["text"], html=row["html"]
    )
