"""Company mutations."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from app.companies import service
from app.graphql.context import Info
from app.members.mutations import UpsertPayload, as_sent, upsert_mutation, upserted


@strawberry.input
class CompanyInput:
    id: strawberry.ID
    name: str
    plan: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET


@strawberry.type
class CompanyMutations:
    @upsert_mutation("Create or update companies; all apply or none does.")
    async def upsert_companies(self, info: Info, companies: list[CompanyInput]) -> UpsertPayload:
        return await upserted(info, companies, "companies", _company_row, service.upsert)


def _company_row(c: CompanyInput, line: list[str]) -> service.CompanyData:
    return service.CompanyData(
        external_id=str(c.id),
        name=c.name,
        plan=as_sent(c.plan),
        attributes=as_sent(c.attributes),
        line=line,
    )
