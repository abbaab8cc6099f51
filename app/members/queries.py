"""Member queries."""

from __future__ import annotations

import strawberry

from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.nodes import site_node
from app.graphql.pagination import Rows, site_rows
from app.members import service
from app.members.models import Member
from app.members.types import MemberType


@strawberry.type
class MemberQueries:
    @strawberry.field
    async def member(self, info: Info, id: strawberry.ID) -> MemberType | None:
        return await site_node(info, service.get, MemberType.from_model, external_id=id)

    @paginated(MemberType, description="Members in id order; search matches id, email and name.")
    def members(self, info: Info, search: str | None = None) -> Rows[Member]:
        return site_rows(info, service.MEMBERS, search=search)
