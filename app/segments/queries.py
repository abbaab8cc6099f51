"""Segment queries: thin resolvers over app.segments.service."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import edges, paginate
from app.segments import service
from app.segments.types import SegmentConnection, SegmentEdge, SegmentNode, SegmentStatusFilter


@strawberry.type
class SegmentQueries:
    @strawberry.field
    async def segment(self, info: Info, id: strawberry.ID) -> SegmentNode | None:
        segment = await service.get(site_id=info.context.site_id, segment_id=id)
        return SegmentNode.from_model(segment) if segment else None

    @strawberry.field
    async def segment_by_name(self, info: Info, name: str) -> SegmentNode | None:
        segment = await service.get_by_name(site_id=info.context.site_id, name=name)
        return SegmentNode.from_model(segment) if segment else None

    @strawberry.field(description="Segments in name order.")
    async def segments(
        self,
        info: Info,
        status: SegmentStatusFilter | None = SegmentStatusFilter.ALL,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> SegmentConnection:
        site_id = info.context.site_id
        wanted = (status or SegmentStatusFilter.ALL).status()
        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=str,
            fetch=lambda n, key: service.list_segments(
                site_id=site_id, status=wanted, search=search, first=n, after=key
            ),
            key=lambda s: s.name,
            count=lambda: service.count_segments(site_id=site_id, status=wanted, search=search),
        )
        return SegmentConnection(
            edges=edges(page, lambda s, c: SegmentEdge(cursor=c, node=SegmentNode.from_model(s))),
            page_info=page.page_info(),
            count=page.count,
        )
