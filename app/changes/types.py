"""GraphQL types of the membership record."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.changes.feed import ChangeRow
from app.changes.models import ChangeCause, ChangeKind
from app.graphql.pagination import PageInfo

strawberry.enum(ChangeKind, name="MembershipChangeKind")
strawberry.enum(ChangeCause, name="MembershipChangeCause")


@strawberry.type(name="MembershipChange")
class MembershipChangeNode:
    id: strawberry.ID
    segment_id: strawberry.ID
    member_id: strawberry.ID
    kind: ChangeKind
    cause: ChangeCause
    at: datetime

    @classmethod
    def from_row(cls, row: ChangeRow) -> MembershipChangeNode:
        return cls(
            id=strawberry.ID(str(row.id)),
            segment_id=strawberry.ID(str(row.segment_id)),
            member_id=strawberry.ID(row.member_ref),
            kind=row.kind,
            cause=row.cause,
            at=row.at,
        )


@strawberry.type
class MembershipChangeEdge:
    cursor: str
    node: MembershipChangeNode


@strawberry.type(description="In commit order; a kept cursor resumes with no gap and no repeat.")
class MembershipChangeConnection:
    edges: list[MembershipChangeEdge]
    page_info: PageInfo


@strawberry.type
class SegmentChangePreview:
    member_count_before: int
    member_count_after: int
    entering: int
    exiting: int
    entering_sample: list[strawberry.ID] = strawberry.field(description="Up to 100 member ids.")
    exiting_sample: list[strawberry.ID] = strawberry.field(description="Up to 100 member ids.")
