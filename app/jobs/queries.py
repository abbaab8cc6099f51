"""Import job queries."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.nodes import site_node
from app.jobs import service
from app.jobs.types import ImportJobType


@strawberry.type
class ImportJobQueries:
    @strawberry.field(description="An import job of the caller's site, with its progress.")
    async def import_job(self, info: Info, id: strawberry.ID) -> ImportJobType | None:
        return await site_node(info, service.get, ImportJobType.from_model, job_id=id)
