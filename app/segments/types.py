"""GraphQL types of segments."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any, Self

import strawberry

from app.companies.types import CompanyType
from app.db import as_datetime
from app.events import service as events
from app.events.models import SegmentEvent
from app.events.types import SegmentEventNode
from app.graphql.connection import ConnectionBase, connection, paginated
from app.graphql.context import Info, Lazy
from app.graphql.errors import UserError
from app.graphql.nodes import RowNode
from app.graphql.pagination import Rows, site_rows
from app.members.types import MemberType
from app.memberships import service as memberships
from app.memberships.catalogue import SegmentDef
from app.segments import loaders as segment_loaders
from app.segments import service
from app.segments.models import Segment, SegmentStatus, SegmentType

if TYPE_CHECKING:
    from app.flags.types import FeatureFlagNode
    from app.personas.types import PersonaNode, SegmentOptionNode, SegmentUsage

_SEGMENT_FLAGS = Lazy("app.flags.loaders", "segment_flags")
_FLAG_NODE = Lazy("app.flags.types", "FeatureFlagNode")
# Segment.options, personas and usage
_OPTIONS = Lazy("app.personas.types", "segment_options")
_PERSONAS = Lazy("app.personas.types", "segment_personas")
_USAGE = Lazy("app.personas.types", "SegmentUsage")

strawberry.enum(SegmentType, name="SegmentType")
strawberry.enum(SegmentStatus, name="SegmentStatus")


@strawberry.enum
class SegmentStatusFilter(enum.Enum):
    ALL = "ALL"
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SCHEDULED = "SCHEDULED"
    EXPIRED = "EXPIRED"
    ARCHIVED = "ARCHIVED"

    def status(self) -> SegmentStatus | None:
        """The status to filter by; None (ALL) means every segment not archived."""
        return None if self is SegmentStatusFilter.ALL else SegmentStatus(self.value)


@strawberry.enum
class MembershipSource(enum.Enum):
    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    COMPANY = "COMPANY"
    RULE = "RULE"


@strawberry.type
class SegmentMemberEdge:
    cursor: str
    node: MemberType
    source: MembershipSource
    added_at: datetime | None
    expires_at: datetime | None


@strawberry.type
class SegmentMemberConnection(ConnectionBase):
    edges: list[SegmentMemberEdge]


@strawberry.type(name="Segment")
class SegmentNode(RowNode):
    name: str
    description: str | None
    type: SegmentType
    is_active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    status: SegmentStatus
    rule: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_model(cls, row: Segment, **given: Any) -> Self:
        return super().from_model(row, status=service.status_of(row), **given)

    @classmethod
    def from_def(cls, s: SegmentDef, now: datetime) -> SegmentNode:
        """From the site's cached catalogue (lookups), as from_model would from the row;
        field by field, not through from_attributes: membershipsOf makes thousands a call."""
        assert s.created_at is not None and s.updated_at is not None
        return cls(
            pk=s.pk,
            id=strawberry.ID(str(s.pk)),
            name=s.name,
            description=s.description,
            type=s.type,
            is_active=s.is_active,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            status=s.status(now),
            rule=s.rule_text,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )

    @strawberry.field(
        description="Effective members: listed (unexpired), via companies, rule matches "
        "(DYNAMIC only), minus excluded."
    )
    async def member_count(self, info: Info) -> int:
        return (
            await info.context.loaders.get(segment_loaders.segment_counts).load(self.pk)
        ).members

    @strawberry.field(description="Listed companies.")
    async def company_count(self, info: Info) -> int:
        found = await info.context.loaders.get(segment_loaders.segment_counts).load(self.pk)
        return found.companies

    @strawberry.field(description="Effective members, with how each one is a member.")
    async def members(
        self,
        info: Info,
        first: int | None = 50,
        after: str | None = None,
        search: str | None = None,
    ) -> SegmentMemberConnection:
        site_id = info.context.site_id

        async def count() -> int:
            if search:
                return await memberships.count_members(
                    site_id=site_id, segment_pk=self.pk, search=search
                )
            found = await info.context.loaders.get(segment_loaders.segment_counts).load(self.pk)
            return found.members

        rows = site_rows(
            info, memberships.EFFECTIVE, count=count, segment_pk=self.pk, search=search
        )
        return await connection(info, (first, after), rows, _member_edge, SegmentMemberConnection)

    @paginated(
        CompanyType,
        make=CompanyType.from_row,
        description="Listed companies; their members are effective members.",
    )
    def companies(self, info: Info) -> Rows[dict[str, Any]]:
        count = partial(_company_count, info, self.pk)
        return site_rows(info, memberships.LISTED_COMPANIES, count=count, segment_pk=self.pk)

    @paginated(
        MemberType,
        make=MemberType.from_row,
        description="Members who are never members, whatever lists or rules say.",
    )
    def excluded_members(self, info: Info) -> Rows[dict[str, Any]]:
        return site_rows(info, memberships.EXCLUDED, segment_pk=self.pk)

    @paginated(
        MemberType,
        make=MemberType.from_row,
        description="STATIC segments: members the rule matches who are not members yet "
        "(and not excluded). Empty for DYNAMIC segments, whose matches are members.",
    )
    def eligible_members(self, info: Info) -> Rows[dict[str, Any]]:
        return site_rows(info, memberships.ELIGIBLE, segment_pk=self.pk)

    @strawberry.field(description="The feature flags targeting this segment, in key order.")
    async def feature_flags(
        self, info: Info
    ) -> list[Annotated[FeatureFlagNode, strawberry.lazy("app.flags.types")]]:
        flags = await info.context.loaders.get(_SEGMENT_FLAGS).load(self.pk)
        node = _FLAG_NODE.get()
        return [node.from_model(f) for f in flags]

    @strawberry.field(description="The options a persona may pick, in position order.")
    async def options(
        self, info: Info
    ) -> list[Annotated[SegmentOptionNode, strawberry.lazy("app.personas.types")]]:
        options: list[SegmentOptionNode] = await _OPTIONS.get()(info, self.pk)
        return options

    @strawberry.field(description="The personas it is attached to, in name order.")
    async def personas(
        self, info: Info
    ) -> list[Annotated[PersonaNode, strawberry.lazy("app.personas.types")]]:
        personas: list[PersonaNode] = await _PERSONAS.get()(info, self.pk)
        return personas

    @strawberry.field(
        description="Where it is used: flags, segments whose rules name it, personas, email "
        "campaigns still sending."
    )
    def usage(self) -> Annotated[SegmentUsage, strawberry.lazy("app.personas.types")]:
        usage: SegmentUsage = _USAGE.get()(pk=self.pk)
        return usage

    @paginated(SegmentEventNode, description="The audit trail, newest first.")
    def events(self, info: Info) -> Rows[SegmentEvent]:
        return site_rows(info, events.EVENTS, segment_id=self.pk)


async def _company_count(info: Info, pk: int) -> int:
    return (await info.context.loaders.get(segment_loaders.segment_counts).load(pk)).companies


def _member_edge(row: dict[str, Any], cursor: str) -> SegmentMemberEdge:
    return SegmentMemberEdge(
        cursor=cursor,
        node=MemberType.from_row(row),
        source=MembershipSource(row["source"]),
        added_at=as_datetime(row["added_at"]),
        expires_at=as_datetime(row["expires_at"]),
    )


def segment_nodes(found: list[SegmentDef]) -> list[SegmentNode]:
    """Segments as lookups found them in the site's cached catalogue."""
    now = datetime.now(UTC)
    return [SegmentNode.from_def(s, now) for s in found]


@strawberry.type
class SegmentPayload:
    segment: SegmentNode | None
    user_errors: list[UserError]
