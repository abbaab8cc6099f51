"""Feature flag queries: thin resolvers over app.flags.service."""

from __future__ import annotations

import strawberry

from app.flags import evaluation, service
from app.flags.types import (
    FeatureFlagConnection,
    FeatureFlagEdge,
    FeatureFlagNode,
    FlagEvaluation,
)
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.graphql.pagination import connection, node_edge, site_rows


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
        rows = site_rows(info, service.list_flags, service.count_flags, lambda f: f.key)
        edge = node_edge(FeatureFlagEdge, FeatureFlagNode.from_model)
        return await connection(info, (first, after), rows, edge, FeatureFlagConnection)

    @strawberry.field(
        description="For the member: each flag (or each key asked, in that order; an unknown "
        "key is off) is enabled when the flag is and the member is an effective member of at "
        "least one ACTIVE target segment."
    )
    async def evaluate_flags(
        self, info: Info, member_id: strawberry.ID, keys: list[str] | None = None
    ) -> list[FlagEvaluation]:
        limit = info.context.settings.max_lookup_ids
        if keys is not None and len(keys) > limit:
            raise PublicError(
                f"{len(keys)} keys is over the limit of {limit} per evaluateFlags", "TOO_LARGE"
            )
        found = await evaluation.evaluate_flags(
            site_id=info.context.site_id, member_id=member_id, keys=keys
        )
        return [
            FlagEvaluation(
                key=e.key,
                enabled=e.enabled,
                matched_segment_ids=[strawberry.ID(str(pk)) for pk in e.matched_segment_pks],
            )
            for e in found
        ]
