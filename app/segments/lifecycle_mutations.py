"""archiveSegment and restoreSegment: thin resolvers over app.segments.lifecycle."""

from __future__ import annotations

import strawberry

from app.auth.models import Role
from app.errors import DomainError
from app.graphql.context import Info
from app.graphql.errors import user_errors
from app.segments import lifecycle
from app.segments.types import SegmentNode, SegmentPayload


@strawberry.type
class SegmentLifecycleMutations:
    @strawberry.mutation(
        description="Take a segment out of day-to-day use (status ARCHIVED), keeping its lists, "
        "rule, options and personas; refused while another segment's rule names it."
    )
    async def archive_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        viewer = info.context.require(Role.WRITER)
        try:
            segment = await lifecycle.archive(
                site_id=viewer.site_id, actor=viewer.key_name, segment_id=id
            )
        except DomainError as e:
            return SegmentPayload(segment=None, user_errors=user_errors(e))
        return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])

    @strawberry.mutation(description="Bring an archived segment back exactly as it was.")
    async def restore_segment(self, info: Info, id: strawberry.ID) -> SegmentPayload:
        viewer = info.context.require(Role.WRITER)
        try:
            segment = await lifecycle.restore(
                site_id=viewer.site_id, actor=viewer.key_name, segment_id=id
            )
        except DomainError as e:
            return SegmentPayload(segment=None, user_errors=user_errors(e))
        return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])
