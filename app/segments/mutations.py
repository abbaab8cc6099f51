"""Segment mutations: validate nothing here; the service decides, userErrors report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from app.graphql.context import Info
from app.graphql.inputs import MERGE_UPDATE, provided, utc
from app.graphql.mutation import Fields, deleting, mutation
from app.segments import service
from app.segments.models import Segment, SegmentType
from app.segments.types import SegmentNode, SegmentPayload
from app.viewer import Role


@strawberry.input
class CreateSegmentInput:
    name: str
    description: str | None = None
    type: SegmentType | None = SegmentType.STATIC
    is_active: bool | None = True
    starts_at: datetime | None = None
    ends_at: datetime | None = strawberry.field(default=None, description="Must be after startsAt.")
    rule: str | None = None
    member_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)
    company_ids: list[strawberry.ID] | None = strawberry.field(default_factory=list)


@strawberry.input(description=MERGE_UPDATE)
class UpdateSegmentInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    type: SegmentType | None = strawberry.UNSET
    is_active: bool | None = strawberry.UNSET
    starts_at: datetime | None = strawberry.UNSET
    ends_at: datetime | None = strawberry.UNSET
    rule: str | None = strawberry.UNSET


def segment_payload(segment: Segment) -> SegmentPayload:
    """The answer of a mutation that wrote ``segment``."""
    return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])


# the answer of a segment mutation refused with userErrors

# the membership path's terms, as createSegment's input names them
_CREATE: Fields = {"members": ["input", "memberIds"], "companies": ["input", "companyIds"]}


@strawberry.type
class SegmentMutations:
    @mutation(Role.WRITER, fields=_CREATE)
    async def create_segment(self, info: Info, input: CreateSegmentInput) -> SegmentPayload:
        data = service.SegmentData(
            name=input.name,
            description=input.description,
            type=input.type or SegmentType.STATIC,
            is_active=True if input.is_active is None else input.is_active,
            starts_at=utc(input.starts_at),
            ends_at=utc(input.ends_at),
            rule=input.rule,
            member_ids=[str(i) for i in input.member_ids or []],
            company_ids=[str(i) for i in input.company_ids or []],
        )
        segment = await service.create(**info.context.acting, data=data)
        return segment_payload(segment)

    @mutation(Role.WRITER)
    async def update_segment(
        self, info: Info, id: strawberry.ID, input: UpdateSegmentInput
    ) -> SegmentPayload:
        changes: dict[str, Any] = provided(input)
        for stamp in ("starts_at", "ends_at"):
            if stamp in changes:
                changes[stamp] = utc(changes[stamp])
        segment = await service.update(**info.context.acting, segment_id=id, changes=changes)
        return segment_payload(segment)

    delete_segment = deleting(
        Role.WRITER,
        service.delete,
        "segment_id",
        description=(
            "Delete a segment with its lists; refused while a rule names it or a persona uses it."
        ),
    )
