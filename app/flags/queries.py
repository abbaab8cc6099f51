"""Feature flag queries: thin resolvers over app.flags.service."""

from __future__ import annotations

import strawberry

from app.flags import evaluation, service
from app.flags.models import FeatureFlag
from app.flags.types import FeatureFlagNode, FlagEvaluation
from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.graphql.nodes import as_ids, site_node
from app.graphql.pagination import Rows, site_rows


@strawberry.type
class FlagQueries:
    @strawberry.field
    async def feature_flag(self, info: Info, key: str) -> FeatureFlagNode | None:
        return await site_node(info, service.get, FeatureFlagNode.from_model, key=key)

    @paginated(FeatureFlagNode, description="Feature flags in key order.")
    def feature_flags(self, info: Info) -> Rows[FeatureFlag]:
        return site_rows(info, service.FLAGS)

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
                matched_segment_ids=as_ids(e.matched_segment_pks),
            )
            for e in found
        ]
