"""GraphQL types of membership lookups."""

from __future__ import annotations

import strawberry

from app.lookups.service import Reason

strawberry.enum(Reason, name="MembershipReason")


@strawberry.type
class MembershipExplanation:
    segment_id: strawberry.ID
    member_id: strawberry.ID
    is_member: bool
    reasons: list[Reason]


@strawberry.type
class MemberSegments:
    member_id: strawberry.ID
    segment_ids: list[strawberry.ID]
