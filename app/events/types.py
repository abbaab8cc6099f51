"""GraphQL types of the audit trail."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from app.events.models import EventKind, SegmentEvent
from app.graphql.nodes import as_ids, from_attributes

strawberry.enum(EventKind, name="SegmentEventKind")


@strawberry.type(name="SegmentEvent")
class SegmentEventNode:
    id: strawberry.ID
    segment_id: strawberry.ID
    kind: EventKind
    actor: str
    count: int
    sample_ids: list[strawberry.ID]
    at: datetime
    changes: JSON | None = strawberry.field(
        default=None,
        description='What changed: {"field": {"before": ..., "after": ...}} for each changed '
        "field of an UPDATED event (the rule included); what was archived, restored, attached "
        "or detached for the other kinds that change a segment's setup; null otherwise.",
    )
    dropped_before: int | None = strawberry.field(
        default=None,
        description=(
            "segmentEvents only: how many events this subscriber missed just before this one"
            " because it fell behind (0: none); null in the audit trail."
        ),
    )

    @classmethod
    def from_model(cls, e: SegmentEvent, dropped_before: int | None = None) -> SegmentEventNode:
        return from_attributes(
            cls,
            e,
            id=strawberry.ID(str(e.id)),
            segment_id=strawberry.ID(str(e.segment_id)),
            sample_ids=as_ids(e.sample_ids),
            dropped_before=dropped_before,
        )
