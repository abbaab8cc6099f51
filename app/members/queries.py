"""Member queries."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import check_first, decode_cursor, make_page
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
        site_id = info.context.site_id
        first = check_first(first, info.context.settings.max_page_size)
        key = decode_cursor(after, str)
        rows = await service.list_members(site_id=site_id, search=search, first=first, after=key)

        async def count() -> int:
            return await service.count_members(site_id=site_id, search=search)

        page = make_page(rows, first, lambda m: m.external_id, count, after=key)
        return MemberConnection(
            edges=[
                MemberEdge(cursor=c, node=MemberType.from_model(m))
                for m, c in zip(page.rows, page.cursors, strict=True)
            ],
            page_info=page.page_info(),
            count=page.count,
        )
