"""GraphQL types of the caller and its keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.auth.models import ApiKey, Role
from app.graphql.errors import UserError
from app.graphql.nodes import from_attributes

strawberry.enum(Role, name="Role")


@strawberry.type
class Viewer:
    site_id: strawberry.ID
    site_name: str
    key_name: str
    role: Role


@strawberry.type(name="ApiKey")
class ApiKeyType:
    id: strawberry.ID
    name: str
    role: Role
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_model(cls, k: ApiKey) -> ApiKeyType:
        return from_attributes(cls, k, id=strawberry.ID(str(k.id)))


@strawberry.type
class ApiKeyPayload:
    api_key: ApiKeyType | None
    secret: str | None = strawberry.field(description="Shown once, never again.")
    user_errors: list[UserError]
