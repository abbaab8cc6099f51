"""Import job queries."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.jobs import service
from app.jobs.types import ImportJobType


@strawberry.type
class ImportJobQueries:
    @strawberry.field(description="An import job of the caller's site, with its progress.")
    async def import_job(self, info: Info, id: strawberry.ID) -> ImportJobType | None:
        job = await service.get(site_id=info.context.site_id, job_id=id)
        return ImportJobType.from_model(job) if job else None
