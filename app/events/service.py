"""The audit trail: one function records every kind of segment event, inside the caller's
transaction, so an event exists exactly when its change does; live subscribers hear of it
when that transaction commits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.events.models import EventKind, SegmentEvent
from app.listing import Listing
from app.live.broker import broker

if TYPE_CHECKING:
    from app.segments.models import Segment

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


# One function per event kind, for the callers that hold the segment (the others: ``record``).


async def _on_segment(
    connection: BaseDBAsyncClient, segment: Segment, kind: EventKind, actor: str, **details: Any
) -> None:
    await record(
        connection,
        site_id=segment.site_id,
        segment_id=segment.id,
        kind=kind,
        actor=actor,
        **details,
    )


async def segment_created(connection: BaseDBAsyncClient, segment: Segment, *, actor: str) -> None:
    await _on_segment(connection, segment, EventKind.CREATED, actor)


async def segment_updated(
    connection: BaseDBAsyncClient, segment: Segment, *, actor: str, changes: Mapping[str, Any]
) -> None:
    """UPDATED, with each field that changed: {"field": {"before": ..., "after": ...}}."""
    await _on_segment(connection, segment, EventKind.UPDATED, actor, changes=changes)


async def email_sent(
    connection: BaseDBAsyncClient, segment: Segment, *, actor: str, recipients: Sequence[str]
) -> None:
    """EMAIL_SENT: how many members a campaign will mail, and a sample of their ids."""
    count = len(recipients)
    await _on_segment(
        connection, segment, EventKind.EMAIL_SENT, actor, count=count, sample_ids=recipients
    )


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
