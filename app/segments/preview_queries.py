"""previewSegmentChange: updateSegment's input, answered with what it would do."""

from __future__ import annotations

from typing import Any

import strawberry

from app.changes.types import SegmentChangePreview
from app.errors import DomainError
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.graphql.inputs import provided, utc
from app.graphql.mutation import ArgumentPaths
from app.graphql.nodes import as_ids, from_attributes
from app.segments.mutations import UpdateSegmentInput
from app.segments.preview import preview_update
from app.viewer import Role

# the paths updateSegment's userErrors give (its arguments are the same: id and input), so
# that a rule's error names ["input", "rule"] here as there
_PATHS = ArgumentPaths(lambda id, input: None, {})


@strawberry.type
class PreviewQueries:
    @strawberry.field(
        description="What updateSegment with this input would do to the segment's effective "
        "members (counts before and after, who enters and exits, up to 100 ids of each), "
        "changing nothing. Needs the role updateSegment needs."
    )
    async def preview_segment_change(
        self, info: Info, id: strawberry.ID, input: UpdateSegmentInput
    ) -> SegmentChangePreview:
        viewer = info.context.require(Role.WRITER)
        changes: dict[str, Any] = provided(input)
        for stamp in ("starts_at", "ends_at"):
            if stamp in changes:
                changes[stamp] = utc(changes[stamp])
        try:
            found = await preview_update(
                site_id=viewer.site_id, actor=viewer.key_name, segment_id=id, changes=changes
            )
        except DomainError as exc:  # what updateSegment would answer in userErrors
            field = None if exc.field is None else _PATHS(exc.field)
            raise PublicError(exc.message, exc.code.value, field=field) from None
        return from_attributes(
            SegmentChangePreview,
            found,
            entering_sample=as_ids(found.entering_sample),
            exiting_sample=as_ids(found.exiting_sample),
        )
