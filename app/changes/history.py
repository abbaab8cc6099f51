"""Asking the past: effective membership at a moment, from the record.

The state of a (segment, member) pair at ``at`` is told by the earliest change recorded after
``at`` (ENTERED: it was not a member then; EXITED: it was); with no change after ``at`` it was
as it is now. "Now" for that purpose is the state the record has caught up with: listing
expiries are recorded (stamped at the expiry) by the sweeper and the site's writers up to the
site's expiry watermark ``expired_to``, so listings are judged at ``max(at, expired_to)``: an
expiry between that moment and now, not recorded yet, has not happened for the question, which
is right since it came after ``at``. (``days_ago()`` rules are kept matches moved by the
sweeper: about a moment just before a sweep, such an answer may be up to
MEMBERSHIP_SWEEP_SECONDS late.) An ``at`` before the site's history (``history_from``) or
before the retained days (MEMBERSHIP_HISTORY_DAYS) is refused, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.changes.index import member_rows
from app.changes.models import ChangeKind
from app.db import as_datetime, fetch, is_postgres, ts, utc
from app.errors import HistoryUnavailable
from app.memberships.kept import expanded, has_member
from app.settings import get_settings


@dataclass(frozen=True, slots=True)
class Moment:
    """A question about the past: ``at`` (never after now), and ``judged``, the moment at which
    the current listings stand for the record's (``max(at, expired_to)``, never after now)."""

    at: datetime
    judged: datetime


async def moment(*, site_id: int, at: datetime, now: datetime) -> Moment:
    """The moment asked, checked against the site's retained history; HistoryUnavailable
    when the record cannot tell it."""
    at = min(utc(at), now)
    retained = now - timedelta(days=get_settings().membership_history_days)
    rows = await fetch(
        "SELECT history_from, expired_to FROM membership_sites WHERE site_id = $1", [site_id]
    )
    history_from = as_datetime(rows[0]["history_from"]) if rows else None
    expired_to = as_datetime(rows[0]["expired_to"]) if rows else None
    start = retained if history_from is None else max(retained, utc(history_from))
    if history_from is None or at < start:
        # no row: nothing was ever recorded for the site, so no past can be told
        raise HistoryUnavailable(
            f"membership history is kept from {start.isoformat()}: {at.isoformat()} is before it"
            if history_from is not None
            else "membership history of this site starts with its first recorded change",
            start if history_from is not None else None,
        )
    judged = at if expired_to is None else min(max(at, utc(expired_to)), now)
    return Moment(at=at, judged=judged)


async def earliest_after(
    *,
    site_id: int,
    member_ref: str,
    at: datetime,
    segment_pk: int | None = None,
    indexed: bool = True,
) -> dict[int, ChangeKind]:
    """For each segment the member (by external id: deleted members too) has a change of after
    ``at``: the kind of the earliest one (by the moment it happened, then commit order). The
    member's rows are found by the member index up to its watermark and read after it
    (``indexed`` false: every row of the site is read; the answer is the same)."""
    pg = is_postgres()
    source = member_rows(pg, "$1", "$2") if indexed else "membership_changes"
    params: list[object] = [site_id, member_ref, ts(at)]
    segment = ""
    if segment_pk is not None:
        params.append(segment_pk)
        segment = " AND c.segment_id = $4"
    rows = await fetch(
        f"SELECT c.segment_id, c.kind FROM {expanded(pg, source)}"
        f" WHERE c.site_id = $1 AND {has_member(pg, '$2')} AND u.value = $2 AND c.at > $3{segment}"
        " ORDER BY c.at, c.id, u.key",
        params,
    )
    found: dict[int, ChangeKind] = {}
    for row in rows:
        found.setdefault(int(row["segment_id"]), ChangeKind(row["kind"]))
    return found


def was_member(now_member: bool, earliest: ChangeKind | None) -> bool:
    """The pair's state at the moment asked: the earliest later change tells it, else now's."""
    if earliest is None:
        return now_member
    return earliest is ChangeKind.EXITED
