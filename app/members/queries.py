"""Member queries."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import connection, node_edge, site_rows
from app.members import service
from app.members.types import MemberConnection, MemberEdge, MemberType


@strawberry.type
class MemberQueries:
    @strawberry.field
    async def member(self, info: Info, id: strawberry.ID) -> MemberType | None:
        member = await service.get(site_id=info.context.site_id, external_id=id)
        return MemberType.from_model(member) if member else None

    @strawberry.field(description="Members in id order; search matches id, email and name.")
    async def members(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> MemberConnection:
        rows = site_rows(
            info,
            service.list_members,
            service.count_members,
            lambda m: m.external_id,
            search=search,
        )
        edge = node_edge(MemberEdge, MemberType.from_model)
        return await connection(info, (first, after), rows, edge, MemberConnection)
