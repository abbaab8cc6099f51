"""archiveSegment and restoreSegment: thin resolvers over app.segments.lifecycle."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.mutation import mutation
from app.segments import lifecycle
from app.segments.mutations import segment_payload
from app.segments.types import SegmentPayload
from app.viewer import Role


@strawberry.type
class SegmentLifecycleMutations:
    @mutation(
        Role.WRITER,
        description="Take a segment out of day-to-day use (status ARCHIVED), keeping its lists, "
        "rule, options and personas; refused while another segment's rule names it.",
    )
    async def archive_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        segment = await lifecycle.archive(**info.context.acting, segment_id=id)
        return segment_payload(segment)

    @mutation(
        Role.WRITER,
        description="Bring an archived segment back exactly as it was.",
    )
    async def restore_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        segment = await lifecycle.restore(**info.context.acting, segment_id=id)
        return segment_payload(segment)
