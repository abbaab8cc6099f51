"""Company mutations."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from app.auth.models import Role
from app.companies import service
from app.errors import DomainError
from app.graphql.context import Info
from app.graphql.errors import user_errors
from app.members.mutations import UpsertPayload, too_many
from app.members.service import UNSET


@strawberry.input
class CompanyInput:
    id: strawberry.ID
    name: str
    plan: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET


@strawberry.type
class CompanyMutations:
    @strawberry.mutation(description="Create or update companies; all apply or none does.")
    async def upsert_companies(self, info: Info, companies: list[CompanyInput]) -> UpsertPayload:
        viewer = info.context.require(Role.WRITER)
        error = too_many(len(companies), info.context.settings.max_upsert_batch, "companies")
        if error:
            return UpsertPayload(created=0, updated=0, user_errors=user_errors(error))
        rows = [
            service.CompanyData(
                external_id=str(c.id),
                name=c.name,
                plan=UNSET if c.plan is strawberry.UNSET else c.plan,
                attributes=UNSET if c.attributes is strawberry.UNSET else c.attributes,
                line=["companies", str(i)],
            )
            for i, c in enumerate(companies)
        ]
        try:
            created, updated = await service.upsert(site_id=viewer.site_id, rows=rows)
        except DomainError as e:
            return UpsertPayload(created=0, updated=0, user_errors=user_errors(e))
        return UpsertPayload(created=created, updated=updated, user_errors=[])
