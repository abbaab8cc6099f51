"""Company queries."""

from __future__ import annotations

import strawberry

from app.companies import service
from app.companies.models import Company
from app.companies.types import CompanyType
from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.nodes import site_node
from app.graphql.pagination import Rows, site_rows


@strawberry.type
class CompanyQueries:
    @strawberry.field
    async def company(self, info: Info, id: strawberry.ID) -> CompanyType | None:
        return await site_node(info, service.get, CompanyType.from_model, external_id=id)

    @paginated(CompanyType, description="Companies in id order; search matches id and name.")
    def companies(self, info: Info, search: str | None = None) -> Rows[Company]:
        return site_rows(info, service.COMPANIES, search=search)
