"""GraphQL types of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

import strawberry
from strawberry.scalars import JSON

from app.events.models import EventKind, SegmentEvent
from app.graphql.nodes import RowNode, as_ids

strawberry.enum(EventKind, name="SegmentEventKind")


@strawberry.type(name="SegmentEvent")
class SegmentEventNode(RowNode):
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
    def from_model(cls, row: SegmentEvent, dropped_before: int | None = None, **given: Any) -> Self:
        return super().from_model(
            row,
            segment_id=strawberry.ID(str(row.segment_id)),
            sample_ids=as_ids(row.sample_ids),
            dropped_before=dropped_before,
            **given,
        )
