"""The mutations that change who is in a segment: thin resolvers over the membership use
cases (app.memberships.changes), and over freeze, which makes a segment of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import strawberry

from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.inputs import id_list, utc
from app.graphql.mutation import Fields, mutation
from app.graphql.nodes import as_ids, from_attributes
from app.memberships import changes as use_cases
from app.memberships.bulk import Mode
from app.memberships.changes import Lists
from app.memberships.types import MembershipMode  # noqa: F401  (names Mode MembershipMode)
from app.segments import loaders
from app.segments import service as segments
from app.segments.mutations import segment_payload
from app.segments.types import SegmentNode, SegmentPayload
from app.viewer import Role


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
        segment = await info.context.loaders.get(loaders.segment).load(self.segment_pk)
        return SegmentNode.from_model(segment) if segment else None

    @classmethod
    def of(cls, outcome: use_cases.Outcome) -> MembershipPayload:
        return from_attributes(
            cls,
            outcome,
            segment_pk=outcome.segment_id,
            unknown_ids=as_ids(outcome.unknown_ids),
            user_errors=[],
        )

    @classmethod
    def failed(cls, *, user_errors: list[UserError]) -> MembershipPayload:
        return cls(
            segment_pk=None,
            added=0,
            removed=0,
            unchanged=0,
            unknown_ids=[],
            unknown_count=0,
            user_errors=user_errors,
        )


@strawberry.type
class BatchMembershipPayload:
    results: list[MembershipPayload] = strawberry.field(description="One per change, in order.")
    user_errors: list[UserError]


def _batch_failed(*, user_errors: list[UserError]) -> BatchMembershipPayload:
    return BatchMembershipPayload(results=[], user_errors=user_errors)


# the services' terms, as the arguments of each mutation name them
_INPUT: Fields = {
    "segment": ["input", "segmentId"],
    "members": ["input", "memberIds"],
    "companies": ["input", "companyIds"],
    "expiry": ["input", "expiresAt"],
    "source": ["input", "fromSegmentId"],
    "target": ["input", "toSegmentId"],
}
_BATCH: Fields = {"segment": ["segmentId"]}
_ARGUMENTS: Fields = {"segment": ["segmentId"]}
_FREEZE: Fields = {"segment": ["id"]}
_WRITER = Role.WRITER


class _ListInput(Protocol):
    """What the inputs of the three list updates share."""

    segment_id: strawberry.ID
    mode: Mode
    idempotency_key: str | None


async def _update_list(
    info: Info, lists: Lists, input: _ListInput, ids: list[strawberry.ID], **options: Any
) -> MembershipPayload:
    """The change of one list of the input's segment: ``ids`` in the input's mode, with the
    list's ``options`` (see use_cases.update_list)."""
    outcome = await use_cases.update_list(
        **info.context.acting,
        lists=lists,
        segment_id=input.segment_id,
        ids=[str(i) for i in ids],
        mode=input.mode,
        idempotency_key=input.idempotency_key,
        **options,
    )
    return MembershipPayload.of(outcome)


@strawberry.type
class MembershipMutations:
    @mutation(_WRITER, failed=MembershipPayload.failed, fields=_INPUT)
    async def update_segment_members(
        self, info: Info, input: UpdateSegmentMembersInput
    ) -> MembershipPayload:
        return await _update_list(
            info,
            Lists.MEMBERS,
            input,
            input.member_ids,
            create_missing=bool(input.create_missing),
            expires_at=utc(input.expires_at),
            dry_run=bool(input.dry_run),
        )

    @mutation(_WRITER, failed=MembershipPayload.failed, fields=_INPUT)
    async def update_segment_companies(
        self, info: Info, input: UpdateSegmentCompaniesInput
    ) -> MembershipPayload:
        return await _update_list(
            info, Lists.COMPANIES, input, input.company_ids, dry_run=bool(input.dry_run)
        )

    @mutation(_WRITER, failed=MembershipPayload.failed, fields=_INPUT)
    async def update_segment_exclusions(
        self, info: Info, input: UpdateSegmentExclusionsInput
    ) -> MembershipPayload:
        return await _update_list(info, Lists.EXCLUSIONS, input, input.member_ids)

    @mutation(_WRITER, failed=MembershipPayload.failed, fields=_INPUT)
    async def move_segment_members(
        self, info: Info, input: MoveSegmentMembersInput
    ) -> MembershipPayload:
        outcome = await use_cases.move_members(
            **info.context.acting,
            from_segment_id=input.from_segment_id,
            to_segment_id=input.to_segment_id,
            member_ids=id_list(input.member_ids),
            idempotency_key=input.idempotency_key,
        )
        return MembershipPayload.of(outcome)

    @mutation(
        _WRITER,
        failed=_batch_failed,
        fields=_BATCH,
        description="Several changes over several segments: all apply, or none does.",
    )
    async def apply_membership_changes(
        self,
        info: Info,
        changes: list[MembershipChangeInput],
        idempotency_key: str | None = None,
    ) -> BatchMembershipPayload:
        batch = [
            use_cases.Change(
                segment_id=str(c.segment_id),
                mode=c.mode,
                member_ids=id_list(c.member_ids),
                company_ids=id_list(c.company_ids),
            )
            for c in changes
        ]
        outcomes = await use_cases.apply_changes(
            **info.context.acting,
            changes=batch,
            idempotency_key=idempotency_key,
        )
        return BatchMembershipPayload(
            results=[MembershipPayload.of(o) for o in outcomes], user_errors=[]
        )

    @mutation(
        _WRITER,
        failed=MembershipPayload.failed,
        fields=_ARGUMENTS,
        description="STATIC segments: list every member the rule matches who is not a member "
        "yet (source RULE), in one step, with an audit event.",
    )
    async def include_eligible_members(
        self, info: Info, segment_id: strawberry.ID
    ) -> MembershipPayload:
        outcome = await use_cases.include_eligible(**info.context.acting, segment_id=segment_id)
        return MembershipPayload.of(outcome)

    @mutation(
        _WRITER,
        fields=_FREEZE,
        description="A new STATIC segment listing the segment's effective members of now.",
    )
    async def freeze_segment(self, info: Info, id: strawberry.ID, name: str) -> SegmentPayload:
        segment = await segments.freeze(**info.context.acting, segment_id=id, name=name)
        return segment_payload(segment)
