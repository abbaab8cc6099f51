"""Company mutations."""

from __future__ import annotations

import strawberry
from strawberry.scalars import JSON

from app.companies import service
from app.graphql.context import Info
from app.graphql.mutation import mutation
from app.members.mutations import UpsertPayload, too_many, upsert_failed
from app.members.service import UNSET
from app.viewer import Role


@strawberry.input
class CompanyInput:
    id: strawberry.ID
    name: str
    plan: str | None = strawberry.UNSET
    attributes: JSON | None = strawberry.UNSET


@strawberry.type
class CompanyMutations:
    @mutation(
        Role.WRITER,
        failed=upsert_failed,
        description="Create or update companies; all apply or none does.",
    )
    async def upsert_companies(self, info: Info, companies: list[CompanyInput]) -> UpsertPayload:
        too_many(len(companies), info.context.settings.max_upsert_batch, "companies")
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
        created, updated = await service.upsert(site_id=info.context.site_id, rows=rows)
        return UpsertPayload(created=created, updated=updated, user_errors=[])
