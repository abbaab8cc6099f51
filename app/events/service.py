"""The audit trail: one function records every kind of segment event, inside the caller's
transaction, so an event exists exactly when its change does."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient

from app.events.models import EventKind, SegmentEvent

MAX_SAMPLE = 100


async def record(
    connection: BaseDBAsyncClient,
    *,
    site_id: int,
    segment_id: int,
    kind: EventKind,
    actor: str,
    count: int = 0,
    sample_ids: Sequence[str] = (),
) -> SegmentEvent:
    return await SegmentEvent.create(
        using_db=connection,
        site_id=site_id,
        segment_id=segment_id,
        kind=kind,
        actor=actor,
        count=count,
        sample_ids=list(sample_ids[:MAX_SAMPLE]),
        at=datetime.now(UTC),
    )


async def list_events(
    *, site_id: int, segment_id: int, first: int, before_id: int | None
) -> list[SegmentEvent]:
    """Up to first+1 events of a segment, newest first."""
    qs = SegmentEvent.filter(site_id=site_id, segment_id=segment_id)
    if before_id is not None:
        qs = qs.filter(id__lt=before_id)
    rows: list[SegmentEvent] = await qs.order_by("-id").limit(first + 1)
    return rows


async def count_events(*, site_id: int, segment_id: int) -> int:
    n: int = await SegmentEvent.filter(site_id=site_id, segment_id=segment_id).count()
    return n
