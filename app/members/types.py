"""GraphQL types of members: a Member wraps its row; relations resolve through loaders."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry
from strawberry.scalars import JSON

from app.graphql.context import Info, Lazy
from app.graphql.nodes import RowNode, from_entity_row
from app.members.models import Member

if TYPE_CHECKING:
    from app.companies.types import CompanyType
    from app.segments.types import SegmentNode

_COMPANY = Lazy("app.companies.loaders", "company")
_COMPANY_TYPE = Lazy("app.companies.types", "CompanyType")
_MEMBER_SEGMENTS = Lazy("app.lookups.loaders", "member_segments")
_SEGMENT_NODES = Lazy("app.segments.types", "segment_nodes")


@strawberry.type(name="Member")
class MemberType(RowNode):
    company_pk: strawberry.Private[int | None]
    email: str | None
    name: str | None
    attributes: JSON
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, row: Member, **given: Any) -> Self:
        return super().from_model(
            row, id=strawberry.ID(row.external_id), company_pk=row.company_id, **given
        )

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> MemberType:
        """From a raw SQL row (see memberships.service)."""
        return from_entity_row(cls, row, company_pk=row["company_id"])

    @strawberry.field
    async def company(
        self, info: Info
    ) -> Annotated[CompanyType, strawberry.lazy("app.companies.types")] | None:
        if self.company_pk is None:
            return None
        company = await info.context.loaders.get(_COMPANY).load(self.company_pk)
        node: CompanyType | None = _COMPANY_TYPE.get().from_model(company) if company else None
        return node

    @strawberry.field(description="The segments this member is an effective member of.")
    async def segments(
        self, info: Info, include_inactive: bool | None = False
    ) -> list[Annotated[SegmentNode, strawberry.lazy("app.segments.types")]]:
        key = (str(self.id), bool(include_inactive))
        found = await info.context.loaders.get(_MEMBER_SEGMENTS).load(key)
        nodes: list[SegmentNode] = _SEGMENT_NODES.get()(found)
        return nodes
