"""Who am I, and key management (ADMIN only)."""

from __future__ import annotations

import strawberry

from app.auth import service
from app.auth.types import ApiKeyPayload, ApiKeyType, Viewer
from app.graphql.context import Info
from app.graphql.inputs import DeletePayload
from app.graphql.mutation import mutation
from app.viewer import Role


@strawberry.type
class AuthQueries:
    @strawberry.field
    async def viewer(self, info: Info) -> Viewer:
        v = info.context.viewer
        return Viewer(
            site_id=strawberry.ID(str(v.site_id)),
            site_name=v.site_name,
            key_name=v.key_name,
            role=v.role,
        )

    @strawberry.field(description="The site's API keys (ADMIN only).")
    async def api_keys(self, info: Info) -> list[ApiKeyType]:
        viewer = info.context.require(Role.ADMIN)
        return [ApiKeyType.from_model(k) for k in await service.list_keys(site_id=viewer.site_id)]


@strawberry.type
class AuthMutations:
    @mutation(
        Role.ADMIN,
        description="Make a key for this site (ADMIN only); the secret is shown once.",
    )
    async def create_api_key(self, info: Info, name: str, role: Role) -> ApiKeyPayload:
        key, secret = await service.create_key(site_id=info.context.site_id, name=name, role=role)
        return ApiKeyPayload(api_key=ApiKeyType.from_model(key), secret=secret, user_errors=[])

    @mutation(Role.ADMIN, description="Revoke a key of this site (ADMIN only).")
    async def revoke_api_key(self, info: Info, id: strawberry.ID) -> DeletePayload:
        try:
            key_id = int(id)
        except ValueError:
            key_id = 0
        if not 0 < key_id < 2**63:  # no row has it, and the database could not compare it
            key_id = 0
        await service.revoke_key(site_id=info.context.site_id, key_id=key_id)
        return DeletePayload(deleted_id=id, user_errors=[])
