"""archiveSegment and restoreSegment: thin resolvers over app.segments.lifecycle."""

from __future__ import annotations

from functools import partial

import strawberry

from app.graphql.context import Info
from app.graphql.mutation import mutation
from app.segments import lifecycle
from app.segments.types import SegmentNode, SegmentPayload
from app.viewer import Role

_failed = partial(SegmentPayload, segment=None)


@strawberry.type
class SegmentLifecycleMutations:
    @mutation(
        Role.WRITER,
        failed=_failed,
        description="Take a segment out of day-to-day use (status ARCHIVED), keeping its lists, "
        "rule, options and personas; refused while another segment's rule names it.",
    )
    async def archive_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        segment = await lifecycle.archive(**info.context.acting, segment_id=id)
        return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])

    @mutation(
        Role.WRITER, failed=_failed, description="Bring an archived segment back exactly as it was."
    )
    async def restore_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        segment = await lifecycle.restore(**info.context.acting, segment_id=id)
        return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])
