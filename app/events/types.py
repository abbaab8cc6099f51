"""GraphQL types of the audit trail."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.events.models import EventKind, SegmentEvent
from app.graphql.connection import ConnectionBase

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

    @classmethod
    def from_model(cls, e: SegmentEvent) -> SegmentEventNode:
        return cls(
            id=strawberry.ID(str(e.id)),
            segment_id=strawberry.ID(str(e.segment_id)),
            kind=e.kind,
            actor=e.actor,
            count=e.count,
            sample_ids=[strawberry.ID(i) for i in e.sample_ids],
            at=e.at,
        )


@strawberry.type
class SegmentEventEdge:
    cursor: str
    node: SegmentEventNode


@strawberry.type
class SegmentEventConnection(ConnectionBase):
    edges: list[SegmentEventEdge]
