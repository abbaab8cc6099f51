"""Segment queries: thin resolvers over app.segments.service."""

from __future__ import annotations

import strawberry

from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.graphql.nodes import site_node
from app.graphql.pagination import Rows, site_rows
from app.segments import rules, service
from app.segments.models import Segment
from app.segments.rule_types import RuleField, RuleValidation
from app.segments.types import SegmentNode, SegmentStatusFilter


@strawberry.type
class SegmentQueries:
    @strawberry.field
    async def segment(self, info: Info, id: strawberry.ID) -> SegmentNode | None:
        return await site_node(info, service.get, SegmentNode.from_model, segment_id=id)

    @strawberry.field
    async def segment_by_name(self, info: Info, name: str) -> SegmentNode | None:
        return await site_node(info, service.get_by_name, SegmentNode.from_model, name=name)

    @paginated(SegmentNode, description="Segments in name order.")
    def segments(
        self,
        info: Info,
        status: SegmentStatusFilter | None = SegmentStatusFilter.ALL,
        search: str | None = None,
    ) -> Rows[Segment]:
        wanted = (status or SegmentStatusFilter.ALL).status()
        return site_rows(info, service.SEGMENTS, status=wanted, search=search)

    @strawberry.field(
        description="Every problem of a rule, with its line and column. With segmentId, the "
        "rule is checked as that segment's (a cycle through in_segment is then a problem)."
    )
    async def validate_rule(
        self, info: Info, rule: str, segment_id: strawberry.ID | None = None
    ) -> RuleValidation:
        site_id = info.context.site_id
        name = None
        if segment_id is not None:
            segment = await service.get(site_id=site_id, segment_id=segment_id)
            if segment is None:
                raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
            name = segment.name
        return RuleValidation.of(
            await rules.validate(site_id=site_id, rule=rule, segment_name=name)
        )

    @strawberry.field(
        description="The fields a rule can read: the fixed ones, then the attribute paths "
        f"present in the site's {rules.FIELD_SAMPLE} newest members and companies."
    )
    async def rule_fields(self, info: Info) -> list[RuleField]:
        found = await rules.rule_fields(site_id=info.context.site_id)
        return [RuleField(path=f.path, type=f.type, examples=f.examples) for f in found]
