"""Live audit events: segmentEvents over graphql-transport-ws."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Sequence
from typing import Any

import strawberry

from app.changes.subscriptions import subscribed_segment
from app.events import service as events
from app.events.models import EventKind, SegmentEvent
from app.events.types import SegmentEventNode
from app.graphql.context import Info
from app.live.broker import broker


class _SharedReads:
    """Every subscriber of a site re-reads the same new rows: audit rows never change, so the
    subscribers of one process share each read (one query per event, not per subscriber).
    A read runs as its own task, so a subscriber that goes away never cancels it for others."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._reads: OrderedDict[tuple[int, int], asyncio.Future[dict[int, SegmentEvent]]] = (
            OrderedDict()
        )

    async def get(self, site_id: int, ids: Sequence[int]) -> dict[int, SegmentEvent]:
        """The site's events of those ids that exist."""
        missing = [i for i in dict.fromkeys(ids) if (site_id, i) not in self._reads]
        if missing:
            read = asyncio.ensure_future(_read(site_id, missing))
            read.add_done_callback(lambda done: self._forget_failed(done, site_id, missing))
            for i in missing:
                self._reads[(site_id, i)] = read
        wanted = {i: self._reads[(site_id, i)] for i in ids}
        while len(self._reads) > self._size:
            self._reads.popitem(last=False)
        rows: dict[int, SegmentEvent] = {}
        for i, pending in wanted.items():
            row = (await asyncio.shield(pending)).get(i)
            if row is not None:
                rows[i] = row
        return rows

    def _forget_failed(
        self, read: asyncio.Future[dict[int, SegmentEvent]], site_id: int, ids: list[int]
    ) -> None:
        if read.cancelled() or read.exception() is not None:  # the next subscriber reads again
            for i in ids:
                if self._reads.get((site_id, i)) is read:
                    del self._reads[(site_id, i)]


async def _read(site_id: int, ids: list[int]) -> dict[int, SegmentEvent]:
    return {e.id: e for e in await events.by_ids(site_id=site_id, ids=ids)}


_rows = _SharedReads()


@strawberry.type
class EventSubscriptions:
    @strawberry.subscription(
        description=(
            "Every audit event of the segment (of every segment of the site when segmentId is"
            " null) as it commits. A subscriber that falls behind misses events and is told so"
            " by droppedBefore on the next event it gets. A subscription to one segment"
            " completes after that segment's DELETED event: nothing more can come."
        )
    )
    async def segment_events(
        self, info: Info, segment_id: strawberry.ID | None = None
    ) -> AsyncGenerator[SegmentEventNode, None]:
        site_id = info.context.site_id
        where = None
        segment_pk = await subscribed_segment(site_id, segment_id)
        if segment_pk is not None:

            def where(payload: dict[str, Any]) -> bool:
                return bool(payload.get("segment") == segment_pk)

        with broker.subscribe(events.TOPIC, site_id=site_id, where=where) as subscription:
            dropped = 0
            while True:
                batch = await subscription.batch()
                # messages carry ids: the rows are read again, of this site only
                rows = await _rows.get(site_id, [int(m.payload["id"]) for m in batch])
                for message in batch:
                    dropped += message.dropped_before
                    event = rows.get(int(message.payload["id"]))
                    if event is None:
                        continue
                    yield SegmentEventNode.from_model(event, dropped_before=dropped)
                    dropped = 0
                    if segment_pk is not None and event.kind == EventKind.DELETED:
                        return  # the segment is gone: its subscription completes
