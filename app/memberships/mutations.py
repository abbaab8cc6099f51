"""Bulk membership mutations: thin resolvers over app.memberships.changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import strawberry

from app.auth.models import Role
from app.errors import DomainError
from app.graphql.context import Info
from app.graphql.errors import UserError, user_errors
from app.graphql.inputs import utc
from app.memberships import changes as use_cases
from app.memberships import listing
from app.memberships.bulk import Mode
from app.segments import service as segments
from app.segments.types import SegmentNode, SegmentPayload

strawberry.enum(Mode, name="MembershipMode")


@strawberry.input
class UpdateSegmentMembersInput:
    segment_id: strawberry.ID
    member_ids: list[strawberry.ID]
    mode: Mode
    create_missing: bool | None = strawberry.field(
        default=False, description="Create bare members for unknown ids instead of reporting them."
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="Listed membership of these ids ends then (ADD, OVERRIDE)."
    )
    dry_run: bool | None = strawberry.field(
        default=False, description="Report the counts, change nothing."
    )
    idempotency_key: str | None = None


@strawberry.input(
    description="Excluded members are never members of the segment, whatever lists or rules say."
)
class UpdateSegmentExclusionsInput:
    segment_id: strawberry.ID
    member_ids: list[strawberry.ID]
    mode: Mode
    idempotency_key: str | None = None


@strawberry.input
class UpdateSegmentCompaniesInput:
    segment_id: strawberry.ID
    company_ids: list[strawberry.ID]
    mode: Mode
    dry_run: bool | None = False
    idempotency_key: str | None = None


@strawberry.input
class MoveSegmentMembersInput:
    from_segment_id: strawberry.ID
    to_segment_id: strawberry.ID | None = strawberry.field(
        default=None, description="Omitted or null: only remove from fromSegmentId."
    )
    member_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Omitted or null: every listed member of fromSegmentId."
    )
    idempotency_key: str | None = None


@strawberry.input(
    description=(
        "One change of a batch; applyMembershipChanges applies a whole batch in one transaction."
    )
)
class MembershipChangeInput:
    segment_id: strawberry.ID
    mode: Mode
    member_ids: list[strawberry.ID] | None = None
    company_ids: list[strawberry.ID] | None = None


@strawberry.type
class MembershipPayload:
    segment_pk: strawberry.Private[int | None]
    added: int
    removed: int
    unchanged: int
    unknown_ids: list[strawberry.ID] = strawberry.field(
        description="Ids that name no member (or company); the first 1000."
    )
    unknown_count: int
    user_errors: list[UserError]

    @strawberry.field
    async def segment(self, info: Info) -> SegmentNode | None:
        if self.segment_pk is None:
            return None
        found = await segments.by_pks(site_id=info.context.site_id, pks=[self.segment_pk])
        segment = found.get(self.segment_pk)
        return SegmentNode.from_model(segment) if segment else None

    @classmethod
    def of(cls, outcome: use_cases.Outcome) -> MembershipPayload:
        return cls(
            segment_pk=outcome.segment_id,
            added=outcome.added,
            removed=outcome.removed,
            unchanged=outcome.unchanged,
            unknown_ids=[strawberry.ID(i) for i in outcome.unknown_ids],
            unknown_count=outcome.unknown_count,
            user_errors=[],
        )

    @classmethod
    def failed(cls, error: DomainError) -> MembershipPayload:
        return cls(
            segment_pk=None,
            added=0,
            removed=0,
            unchanged=0,
            unknown_ids=[],
            unknown_count=0,
            user_errors=user_errors(error),
        )


@strawberry.type
class BatchMembershipPayload:
    results: list[MembershipPayload] = strawberry.field(description="One per change, in order.")
    user_errors: list[UserError]


def _ids(ids: list[strawberry.ID] | None) -> list[str] | None:
    return None if ids is None else [str(i) for i in ids]


async def _run(call: Callable[[], Awaitable[use_cases.Outcome]]) -> MembershipPayload:
    try:
        return MembershipPayload.of(await call())
    except DomainError as e:
        return MembershipPayload.failed(e)


@strawberry.type
class MembershipMutations:
    @strawberry.mutation
    async def update_segment_members(
        self, info: Info, input: UpdateSegmentMembersInput
    ) -> MembershipPayload:
        viewer = info.context.require(Role.WRITER)
        return await _run(
            lambda: use_cases.update_members(
                site_id=viewer.site_id,
                actor=viewer.key_name,
                segment_id=input.segment_id,
                member_ids=[str(i) for i in input.member_ids],
                mode=input.mode,
                create_missing=bool(input.create_missing),
                expires_at=utc(input.expires_at),
                dry_run=bool(input.dry_run),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation
    async def update_segment_companies(
        self, info: Info, input: UpdateSegmentCompaniesInput
    ) -> MembershipPayload:
        viewer = info.context.require(Role.WRITER)
        return await _run(
            lambda: use_cases.update_companies(
                site_id=viewer.site_id,
                actor=viewer.key_name,
                segment_id=input.segment_id,
                company_ids=[str(i) for i in input.company_ids],
                mode=input.mode,
                dry_run=bool(input.dry_run),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation
    async def update_segment_exclusions(
        self, info: Info, input: UpdateSegmentExclusionsInput
    ) -> MembershipPayload:
        viewer = info.context.require(Role.WRITER)
        return await _run(
            lambda: use_cases.update_exclusions(
                site_id=viewer.site_id,
                actor=viewer.key_name,
                segment_id=input.segment_id,
                member_ids=[str(i) for i in input.member_ids],
                mode=input.mode,
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation
    async def move_segment_members(
        self, info: Info, input: MoveSegmentMembersInput
    ) -> MembershipPayload:
        viewer = info.context.require(Role.WRITER)
        return await _run(
            lambda: use_cases.move_members(
                site_id=viewer.site_id,
                actor=viewer.key_name,
                from_segment_id=input.from_segment_id,
                to_segment_id=input.to_segment_id,
                member_ids=_ids(input.member_ids),
                idempotency_key=input.idempotency_key,
            )
        )

    @strawberry.mutation(
        description="Several changes over several segments: all apply, or none does."
    )
    async def apply_membership_changes(
        self,
        info: Info,
        changes: list[MembershipChangeInput],
        idempotency_key: str | None = None,
    ) -> BatchMembershipPayload:
        viewer = info.context.require(Role.WRITER)
        batch = [
            use_cases.Change(
                segment_id=str(c.segment_id),
                mode=c.mode,
                member_ids=_ids(c.member_ids),
                company_ids=_ids(c.company_ids),
            )
            for c in changes
        ]
        try:
            outcomes = await use_cases.apply_changes(
                site_id=viewer.site_id,
                actor=viewer.key_name,
                changes=batch,
                idempotency_key=idempotency_key,
            )
        except DomainError as e:
            return BatchMembershipPayload(results=[], user_errors=user_errors(e))
        return BatchMembershipPayload(
            results=[MembershipPayload.of(o) for o in outcomes], user_errors=[]
        )

    @strawberry.mutation(
        description="STATIC segments: list every member the rule matches who is not a member "
        "yet (source RULE), in one step, with an audit event."
    )
    async def include_eligible_members(
        self, info: Info, segment_id: strawberry.ID
    ) -> MembershipPayload:
        viewer = info.context.require(Role.WRITER)
        return await _run(
            lambda: listing.include_eligible(
                site_id=viewer.site_id, actor=viewer.key_name, segment_id=segment_id
            )
        )

    @strawberry.mutation(
        description="A new STATIC segment listing the segment's effective members of now."
    )
    async def freeze_segment(self, info: Info, id: strawberry.ID, name: str) -> SegmentPayload:
        viewer = info.context.require(Role.WRITER)
        try:
            segment = await listing.freeze(
                site_id=viewer.site_id, actor=viewer.key_name, segment_id=id, name=name
            )
        except DomainError as e:
            if e.field == ["input", "name"]:  # the new segment's name is an argument here
                e.field = ["name"]
            return SegmentPayload(segment=None, user_errors=user_errors(e))
        return SegmentPayload(segment=SegmentNode.from_model(segment), user_errors=[])
