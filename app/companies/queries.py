"""Company queries."""

from __future__ import annotations

import strawberry

from app.companies import service
from app.companies.types import CompanyConnection, CompanyEdge, CompanyType
from app.graphql.context import Info
from app.graphql.pagination import check_first, decode_cursor, make_page


@strawberry.type
class CompanyQueries:
    @strawberry.field
    async def company(self, info: Info, id: strawberry.ID) -> CompanyType | None:
        company = await service.get(site_id=info.context.site_id, external_id=id)
        return CompanyType.from_model(company) if company else None

    @strawberry.field(description="Companies in id order; search matches id and name.")
    async def companies(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> CompanyConnection:
        site_id = info.context.site_id
        first = check_first(first, info.context.settings.max_page_size)
        key = decode_cursor(after, str)
        rows = await service.list_companies(site_id=site_id, search=search, first=first, after=key)

        async def count() -> int:
            return await service.count_companies(site_id=site_id, search=search)

        page = make_page(rows, first, lambda c: c.external_id, count, after=key)
        return CompanyConnection(
            edges=[
                CompanyEdge(cursor=c, node=CompanyType.from_model(m))
                for m, c in zip(page.rows, page.cursors, strict=True)
            ],
            page_info=page.page_info(),
            count=page.count,
        )
