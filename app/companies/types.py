"""GraphQL types of companies."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry.scalars import JSON

from app.companies import loaders
from app.companies.models import Company
from app.graphql.connection import paginated
from app.graphql.context import Info, Lazy
from app.graphql.nodes import RowNode, from_entity_row
from app.graphql.pagination import Rows, site_rows
from app.members import service as members
from app.members.models import Member
from app.members.types import MemberType
from app.memberships import loaders as memberships

if TYPE_CHECKING:
    from app.segments.types import SegmentNode

_SEGMENT_NODES = Lazy("app.segments.types", "segment_nodes")


@strawberry.type(name="Company")
class CompanyType(RowNode):
    name: str
    plan: str | None
    attributes: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, row: Company, **given: Any) -> Self:
        return super().from_model(row, id=strawberry.ID(row.external_id), **given)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CompanyType:
        return from_entity_row(cls, row)

    @strawberry.field(description="Members whose company this is.")
    async def member_count(self, info: Info) -> int:
        return await info.context.loaders.get(loaders.member_count).load(self.pk)

    @strawberry.field(description="The segments that list this company.")
    async def segments(
        self, info: Info, include_inactive: bool | None = False
    ) -> list[Annotated[SegmentNode, strawberry.lazy("app.segments.types")]]:
        key = (self.pk, bool(include_inactive))
        found = await info.context.loaders.get(memberships.company_segments).load(key)
        nodes: list[SegmentNode] = _SEGMENT_NODES.get()(found)
        return nodes

    @paginated(MemberType)
    def members(self, info: Info) -> Rows[Member]:
        # counted by the request's loader, with the other companies' counts
        counts = info.context.loaders.get(loaders.member_count)
        return site_rows(
            info, members.COMPANY_MEMBERS, count=partial(counts.load, self.pk), company_pk=self.pk
        )
