"""GraphQL types of feature flags."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.flags import loaders
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.nodes import RowNode
from app.segments.types import SegmentNode


@strawberry.type(name="FeatureFlag")
class FeatureFlagNode(RowNode):
    key: str = strawberry.field(description="Unique within the site.")
    description: str | None
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @strawberry.field(
        description="Target segments, in name order; deleting a segment removes it from every flag."
    )
    async def segments(self, info: Info) -> list[SegmentNode]:
        rows = await info.context.loaders.get(loaders.flag_segments).load(self.pk)
        return [SegmentNode.from_model(s) for s in rows]


@strawberry.type
class FeatureFlagPayload:
    feature_flag: FeatureFlagNode | None
    user_errors: list[UserError]


@strawberry.type
class FlagEvaluation:
    key: str
    enabled: bool
    matched_segment_ids: list[strawberry.ID]
