"""Feature flag queries: thin resolvers over app.flags.service."""

from __future__ import annotations

import strawberry

from app.flags import service
from app.flags.types import FeatureFlagConnection, FeatureFlagEdge, FeatureFlagNode
from app.graphql.context import Info
from app.graphql.pagination import edges, paginate


@strawberry.type
class FlagQueries:
    @strawberry.field
    async def feature_flag(self, info: Info, key: str) -> FeatureFlagNode | None:
        flag = await service.get(site_id=info.context.site_id, key=key)
        return FeatureFlagNode.from_model(flag) if flag else None

    @strawberry.field(description="Feature flags in key order.")
    async def feature_flags(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> FeatureFlagConnection:
        site_id = info.context.site_id
        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=str,
            fetch=lambda n, key: service.list_flags(site_id=site_id, first=n, after=key),
            key=lambda f: f.key,
            count=lambda: service.count_flags(site_id=site_id),
        )
        return FeatureFlagConnection(
            edges=edges(
                page, lambda f, c: FeatureFlagEdge(cursor=c, node=FeatureFlagNode.from_model(f))
            ),
            page_info=page.page_info(),
            count=page.count,
        )
