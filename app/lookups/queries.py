"""Lookup queries: "is this member in that segment?", and which segments a member is in."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.db import parse_pk
from app.errors import HistoryUnavailable
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.lookups import loaders, service
from app.lookups.types import MemberSegments, MembershipExplanation
from app.memberships.catalogue import SegmentDef
from app.segments.types import SegmentNode, segment_nodes


def _segment(lookup: service.Lookup, segment_id: str) -> SegmentDef:
    pk = parse_pk(segment_id)
    segment = lookup.cat.by_pk.get(pk) if pk is not None else None
    if segment is None:
        raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
    return segment


async def _member_in(
    info: Info, segment_id: str, member_id: str
) -> tuple[SegmentDef, service.Membership | None]:
    """The segment (NOT_FOUND for one the site lacks) and the member's effective membership
    (None for an unknown member), read in one lookup."""
    lookup = await service.load(site_id=info.context.site_id, external_ids=[member_id])
    return _segment(lookup, segment_id), lookup.membership(member_id)


def _history_refused(error: HistoryUnavailable) -> PublicError:
    since = error.history_from.isoformat() if error.history_from is not None else None
    return PublicError(error.message, error.code, historyFrom=since)


@strawberry.type
class LookupQueries:
    @strawberry.field(
        description="Whether the member is an effective member of the segment, now (or at "
        "`at`, from the membership record: HISTORY_UNAVAILABLE before the retained history); "
        "false when the segment is not ACTIVE (then) or the member is unknown."
    )
    async def is_member(
        self,
        info: Info,
        segment_id: strawberry.ID,
        member_id: strawberry.ID,
        at: datetime | None = None,
    ) -> bool:
        if at is not None:
            try:
                was = await service.is_member_at(
                    site_id=info.context.site_id,
                    segment_pk=parse_pk(segment_id),
                    external_id=member_id,
                    at=at,
                )
            except HistoryUnavailable as exc:
                raise _history_refused(exc) from None
            if was is None:
                raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
            return was
        found = await service.is_member(
            site_id=info.context.site_id, segment_pk=parse_pk(segment_id), external_id=member_id
        )
        if found is None:
            raise PublicError(f"segment {segment_id!r} not found", "NOT_FOUND")
        return found

    @strawberry.field(
        description="The segments the member is an effective member of (at `at`: was, from the "
        "membership record, among the segments that still exist), by id."
    )
    async def member_segments(
        self,
        info: Info,
        member_id: strawberry.ID,
        include_inactive: bool | None = False,
        at: datetime | None = None,
    ) -> list[SegmentNode]:
        if at is not None:
            try:
                found = await service.segments_at(
                    site_id=info.context.site_id,
                    external_id=member_id,
                    at=at,
                    include_inactive=bool(include_inactive),
                )
            except HistoryUnavailable as exc:
                raise _history_refused(exc) from None
            return segment_nodes(found)
        key = (member_id, bool(include_inactive))
        return segment_nodes(await info.context.loaders.get(loaders.member_segments).load(key))

    @strawberry.field(
        description="For each member asked (in that order), the ACTIVE segments it is in; "
        "an unknown member is in none."
    )
    async def memberships_of(
        self, info: Info, member_ids: list[strawberry.ID]
    ) -> list[MemberSegments]:
        limit = info.context.settings.max_lookup_ids
        if len(member_ids) > limit:
            raise PublicError(
                f"{len(member_ids)} member ids is over the limit of {limit} per membershipsOf",
                "TOO_LARGE",
            )
        found = await service.memberships_of(site_id=info.context.site_id, external_ids=member_ids)
        return [
            MemberSegments(
                member_id=strawberry.ID(i), segment_ids=[strawberry.ID(pk) for pk in pks]
            )
            for i, pks in found
        ]

    @strawberry.field(description="Why the member is, or is not, an effective member now.")
    async def explain_membership(
        self, info: Info, segment_id: strawberry.ID, member_id: strawberry.ID
    ) -> MembershipExplanation:
        segment, membership = await _member_in(info, segment_id, member_id)
        if membership is None:
            reasons = [service.Reason.UNKNOWN_MEMBER]
            is_member = False
        else:
            reasons = membership.reasons(segment)
            is_member = membership.counts(segment, include_inactive=False)
        return MembershipExplanation(
            segment_id=strawberry.ID(str(segment.pk)),
            member_id=member_id,
            is_member=is_member,
            reasons=reasons,
        )
