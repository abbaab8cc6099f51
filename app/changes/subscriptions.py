"""Streaming the record: the membershipChanges subscription over graphql-transport-ws.

A subscriber starts at the site's newest change and, on every ``membership.changes`` message
(NOTIFY on PostgreSQL, so a change committed by any server process), reads the changes after
the last one it sent, from the database and of its own site, in commit order. The message only
says that there is more: a subscriber whose queue overflowed still reads every change.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.changes import feed
from app.changes.models import ChangeCause
from app.changes.record import TOPIC
from app.changes.types import MembershipChangeNode
from app.db import parse_pk
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.live.broker import broker

_READ = 500  # changes per statement while catching up


async def subscribed_segment(site_id: int, segment_id: strawberry.ID | None) -> int | None:
    """The pk of the segment a subscription of the site is filtered to (None: every segment of
    the site); an id that names no segment of the site (another site's included) is a
    NOT_FOUND error, as if it were not there."""
    if segment_id is None:
        return None
    segment_pk = parse_pk(segment_id)
    if segment_pk is None or not await feed.segment_exists(site_id=site_id, segment_pk=segment_pk):
        raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
    return segment_pk


@strawberry.type
class ChangeSubscriptions:
    @strawberry.subscription(
        description="Every change of effective membership (of the segment, or of every "
        "segment of the site when segmentId is null) from the moment of subscribing, in the "
        "order the changes committed, whichever server process wrote them. A subscription "
        "to one segment completes once that segment is deleted, after its members' exits."
    )
    async def membership_changes(
        self, info: Info, segment_id: strawberry.ID | None = None
    ) -> AsyncGenerator[MembershipChangeNode, None]:
        site_id = info.context.site_id
        segment_pk = await subscribed_segment(site_id, segment_id)
        with broker.subscribe(TOPIC, site_id=site_id) as subscription:
            # subscribed first, then the start read: a change committed in between is either
            # before the start or told by a message still to come
            last = await feed.last_id(site_id=site_id)
            while True:
                batch = await subscription.batch()
                upto = max(int(m.payload.get("upto", 0)) for m in batch)
                if upto <= last:
                    continue
                deleted = False
                while True:
                    rows = await feed.list_changes(
                        site_id=site_id, after=last, first=_READ, segment_pk=segment_pk
                    )
                    for row in rows:
                        last = row.id
                        deleted = deleted or row.cause == ChangeCause.SEGMENT_DELETED
                        yield MembershipChangeNode.from_row(row)
                    if len(rows) < _READ:
                        break
                # the segment's deletion wrote its members' exits, read above to the last:
                # nothing more can come, so the subscription completes
                if (
                    segment_pk is not None
                    and deleted
                    and not await feed.segment_exists(site_id=site_id, segment_pk=segment_pk)
                ):
                    return
                # every change up to `upto` committed before it was told (commit order): none
                # of them is left to read, whichever segment it is of
                last = max(last, upto)
