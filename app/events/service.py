"""The audit trail: one function records every kind of segment event, inside the caller's
transaction, so an event exists exactly when its change does; live subscribers hear of it
when that transaction commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.events.models import EventKind, SegmentEvent
from app.listing import Listing
from app.live.broker import broker

TOPIC = "segment_events"

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
    changes: Mapping[str, Any] | None = None,
) -> SegmentEvent:
    event = await SegmentEvent.create(
        using_db=connection,
        site_id=site_id,
        segment_id=segment_id,
        kind=kind,
        actor=actor,
        count=count,
        sample_ids=list(sample_ids[:MAX_SAMPLE]),
        changes=dict(changes) if changes is not None else None,
        at=datetime.now(UTC),
    )
    await broker.publish(
        topic=TOPIC,
        site_id=site_id,
        payload={"id": event.id, "segment": segment_id},
        connection=connection,
    )
    return event


async def by_ids(*, site_id: int, ids: Sequence[int]) -> list[SegmentEvent]:
    """The site's events of those ids that exist, oldest first."""
    qs = SegmentEvent.filter(site_id=site_id, id__in=list(ids))
    rows: list[SegmentEvent] = await qs.order_by("id")
    return rows


# a segment's audit trail (filter segment_id), newest first
EVENTS = Listing(
    lambda site_id, segment_id: SegmentEvent.filter(site_id=site_id, segment_id=segment_id),
    "-id",
    int,
)
