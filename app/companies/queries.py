"""Company queries."""

from __future__ import annotations

import strawberry

from app.companies import service
from app.companies.types import CompanyConnection, CompanyEdge, CompanyType
from app.graphql.context import Info
from app.graphql.pagination import connection, node_edge, site_rows


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
        rows = site_rows(
            info,
            service.list_companies,
            service.count_companies,
            lambda c: c.external_id,
            search=search,
        )
        edge = node_edge(CompanyEdge, CompanyType.from_model)
        return await connection(info, (first, after), rows, edge, CompanyConnection)
