"""GraphQL types of segments."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry

from app.companies.types import CompanyConnection, CompanyEdge, CompanyType
from app.db import as_datetime
from app.events import service as events
from app.events.types import SegmentEventConnection, SegmentEventEdge, SegmentEventNode
from app.graphql.connection import ConnectionBase
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.pagination import edges, paginate
from app.members.types import MemberConnection, MemberEdge, MemberType
from app.memberships import service as memberships
from app.segments import service
from app.segments.catalogue import SegmentDef
from app.segments.models import Segment, SegmentStatus, SegmentType

if TYPE_CHECKING:
    from app.flags.types import FeatureFlagNode
    from app.personas.types import PersonaNode, SegmentOptionNode, SegmentUsage

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
class SegmentNode:
    pk: strawberry.Private[int]
    id: strawberry.ID
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
    def from_model(cls, s: Segment) -> SegmentNode:
        return cls(
            pk=s.id,
            id=strawberry.ID(str(s.id)),
            name=s.name,
            description=s.description,
            type=s.type,
            is_active=s.is_active,
            starts_at=s.starts_at,
            ends_at=s.ends_at,
            status=service.status_of(s),
            rule=s.rule,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )

    @classmethod
    def from_def(cls, s: SegmentDef, now: datetime) -> SegmentNode:
        """From the site's cached catalogue (lookups), as from_model would from the row."""
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
        return await info.context.loaders.segment_member_count.load(self.pk)

    @strawberry.field(description="Listed companies.")
    async def company_count(self, info: Info) -> int:
        return await info.context.loaders.segment_company_count.load(self.pk)

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
            return await info.context.loaders.segment_member_count.load(self.pk)

        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=int,
            fetch=lambda n, key: memberships.list_members(
                site_id=site_id, segment_pk=self.pk, search=search, first=n, after=key
            ),
            key=lambda r: r["id"],
            count=count,
        )
        return SegmentMemberConnection(
            edges=edges(page, _member_edge), page_info=page.page_info(), count=page.count
        )

    @strawberry.field(description="Listed companies; their members are effective members.")
    async def companies(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> CompanyConnection:
        site_id = info.context.site_id
        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=int,
            fetch=lambda n, key: memberships.list_companies(
                site_id=site_id, segment_pk=self.pk, first=n, after=key
            ),
            key=lambda r: r["id"],
            count=lambda: info.context.loaders.segment_company_count.load(self.pk),
        )
        return CompanyConnection(
            edges=edges(page, lambda r, c: CompanyEdge(cursor=c, node=CompanyType.from_row(r))),
            page_info=page.page_info(),
            count=page.count,
        )

    @strawberry.field(description="Members who are never members, whatever lists or rules say.")
    async def excluded_members(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> MemberConnection:
        site_id = info.context.site_id
        return await _member_rows(
            info,
            first,
            after,
            fetch=lambda n, key: memberships.list_excluded(
                site_id=site_id, segment_pk=self.pk, first=n, after=key
            ),
            count=lambda: memberships.count_excluded(site_id=site_id, segment_pk=self.pk),
        )

    @strawberry.field(
        description="STATIC segments: members the rule matches who are not members yet "
        "(and not excluded). Empty for DYNAMIC segments, whose matches are members."
    )
    async def eligible_members(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> MemberConnection:
        site_id = info.context.site_id
        return await _member_rows(
            info,
            first,
            after,
            fetch=lambda n, key: memberships.list_eligible(
                site_id=site_id, segment_pk=self.pk, first=n, after=key
            ),
            count=lambda: memberships.count_eligible(site_id=site_id, segment_pk=self.pk),
        )

    @strawberry.field(description="The feature flags targeting this segment, in key order.")
    async def feature_flags(
        self, info: Info
    ) -> list[Annotated[FeatureFlagNode, strawberry.lazy("app.flags.types")]]:
        from app.flags.types import FeatureFlagNode

        flags = await info.context.loaders.segment_flags.load(self.pk)
        return [FeatureFlagNode.from_model(f) for f in flags]

    @strawberry.field(description="The options a persona may pick, in position order.")
    async def options(
        self, info: Info
    ) -> list[Annotated[SegmentOptionNode, strawberry.lazy("app.personas.types")]]:
        from app.personas.types import segment_options

        return await segment_options(info, self.pk)

    @strawberry.field(description="The personas it is attached to, in name order.")
    async def personas(
        self, info: Info
    ) -> list[Annotated[PersonaNode, strawberry.lazy("app.personas.types")]]:
        from app.personas.types import segment_personas

        return await segment_personas(info, self.pk)

    @strawberry.field(
        description="Where it is used: flags, segments whose rules name it, personas, email "
        "campaigns still sending."
    )
    def usage(self) -> Annotated[SegmentUsage, strawberry.lazy("app.personas.types")]:
        from app.personas.types import SegmentUsage

        return SegmentUsage(pk=self.pk)

    @strawberry.field(description="The audit trail, newest first.")
    async def events(
        self, info: Info, first: int | None = 50, after: str | None = None
    ) -> SegmentEventConnection:
        site_id = info.context.site_id
        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=int,
            fetch=lambda n, key: events.list_events(
                site_id=site_id, segment_id=self.pk, first=n, before_id=key
            ),
            key=lambda e: e.id,
            count=lambda: events.count_events(site_id=site_id, segment_id=self.pk),
        )
        return SegmentEventConnection(
            edges=edges(
                page, lambda e, c: SegmentEventEdge(cursor=c, node=SegmentEventNode.from_model(e))
            ),
            page_info=page.page_info(),
            count=page.count,
        )


async def _member_rows(
    info: Info,
    first: int | None,
    after: str | None,
    *,
    fetch: Callable[[int, int | None], Awaitable[list[dict[str, Any]]]],
    count: Callable[[], Awaitable[int]],
) -> MemberConnection:
    """A connection of member rows (raw SQL, keyed by member pk)."""
    page = await paginate(
        first,
        after,
        limit=info.context.settings.max_page_size,
        kind=int,
        fetch=fetch,
        key=lambda r: r["id"],
        count=count,
    )
    return MemberConnection(
        edges=edges(page, lambda r, c: MemberEdge(cursor=c, node=MemberType.from_row(r))),
        page_info=page.page_info(),
        count=page.count,
    )


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
class SegmentEdge:
    cursor: str
    node: SegmentNode


@strawberry.type
class SegmentConnection(ConnectionBase):
    edges: list[SegmentEdge]


@strawberry.type
class SegmentPayload:
    segment: SegmentNode | None
    user_errors: list[UserError]
