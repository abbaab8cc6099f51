"""Feature flag mutations: the service decides, userErrors report."""

from __future__ import annotations

import strawberry

from app.flags import service
from app.flags.models import FeatureFlag
from app.flags.types import FeatureFlagNode, FeatureFlagPayload
from app.graphql.context import Info
from app.graphql.inputs import DeletePayload, provided
from app.graphql.mutation import mutation
from app.viewer import Role


@strawberry.input
class FeatureFlagInput:
    key: str = strawberry.field(
        description="Unique within the site: letters, digits, '_', '-', '.' and ':'."
    )
    description: str | None = None
    enabled: bool | None = True
    segment_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)


@strawberry.input(
    description="Merge update: an omitted field is left as it is; segmentIds replaces the set."
)
class UpdateFeatureFlagInput:
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET
    segment_ids: list[strawberry.ID] | None = strawberry.UNSET


def _payload(flag: FeatureFlag) -> FeatureFlagPayload:
    return FeatureFlagPayload(feature_flag=FeatureFlagNode.from_model(flag), user_errors=[])


@strawberry.type
class FlagMutations:
    @mutation(Role.WRITER)
    async def create_feature_flag(self, info: Info, input: FeatureFlagInput) -> FeatureFlagPayload:
        data = service.FlagData(
            key=input.key,
            description=input.description,
            enabled=True if input.enabled is None else input.enabled,
            segment_ids=[str(i) for i in input.segment_ids or []],
        )
        flag = await service.create(site_id=info.context.site_id, data=data)
        return _payload(flag)

    @mutation(Role.WRITER)
    async def update_feature_flag(
        self, info: Info, key: str, input: UpdateFeatureFlagInput
    ) -> FeatureFlagPayload:
        changes = provided(input)
        if changes.get("segment_ids") is not None:
            changes["segment_ids"] = [str(i) for i in changes["segment_ids"]]
        flag = await service.update(site_id=info.context.site_id, key=key, changes=changes)
        return _payload(flag)

    @mutation(Role.WRITER, description="Delete a flag; the segments it targets stay.")
    async def delete_feature_flag(self, info: Info, key: str) -> DeletePayload:
        pk = await service.delete(site_id=info.context.site_id, key=key)
        return DeletePayload(deleted_id=strawberry.ID(str(pk)), user_errors=[])
