"""Live audit events: segmentEvents over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import strawberry

from app.events import service as events
from app.events.types import SegmentEventNode
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.live.broker import broker
from app.segments import service as segments


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        description=(
            "Every audit event of the segment (of every segment of the site when segmentId is"
            " null) as it commits. A subscriber that falls behind misses events and is told so"
            " by droppedBefore on the next event it gets."
        )
    )
    async def segment_events(
        self, info: Info, segment_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SegmentEventNode, None]:
        site_id = info.context.site_id
        where = None
        if segment_id is not None:
            segment = await segments.get(site_id=site_id, segment_id=segment_id)
            if segment is None:  # another site's segment included: it is not there
                raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
            segment_pk = segment.id

            def where(payload: dict[str, Any]) -> bool:
                return bool(payload.get("segment") == segment_pk)

        with broker.subscribe(events.TOPIC, site_id=site_id, where=where) as subscription:
            dropped = 0
            while True:
                batch = await subscription.batch()
                # messages carry ids: the rows are read again, of this site only
                rows = {
                    e.id: e
                    for e in await events.by_ids(
                        site_id=site_id, ids=[int(m.payload["id"]) for m in batch]
                    )
                }
                for message in batch:
                    dropped += message.dropped_before
                    event = rows.get(int(message.payload["id"]))
                    if event is None:
                        continue
                    yield SegmentEventNode.from_model(event, dropped_before=dropped)
                    dropped = 0
