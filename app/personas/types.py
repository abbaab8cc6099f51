"""GraphQL types of personas, segment options and where a segment is used."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import strawberry

from app.email.types import EmailCampaignNode
from app.flags import loaders as flag_loaders
from app.flags.types import FeatureFlagNode
from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.nodes import RowNode, from_attributes
from app.graphql.pagination import Rows, site_rows
from app.members.types import MemberType
from app.personas import loaders, members
from app.personas.models import SegmentOption
from app.segments.types import SegmentNode


@strawberry.type(name="SegmentOption")
class SegmentOptionNode:
    id: strawberry.ID
    label: str = strawberry.field(description="Unique within its segment.")
    description: str | None
    position: int = strawberry.field(description="Options are listed in position order.")

    @classmethod
    def from_model(cls, o: SegmentOption) -> SegmentOptionNode:
        return from_attributes(cls, o, id=strawberry.ID(str(o.id)))


@strawberry.type(name="PersonaSegment")
class PersonaSegmentNode:
    segment: SegmentNode
    options: list[SegmentOptionNode] = strawberry.field(
        description="The options of the segment the persona picks, in position order."
    )


@strawberry.type(name="Persona")
class PersonaNode(RowNode):
    name: str = strawberry.field(description="Unique within the site.")
    description: str | None
    created_at: datetime
    updated_at: datetime

    @strawberry.field(description="The attached segments, in name order, with their options.")
    async def segments(self, info: Info) -> list[PersonaSegmentNode]:
        found = await info.context.loaders.get(loaders.attachments).load(self.pk)
        return [
            PersonaSegmentNode(
                segment=SegmentNode.from_model(a.segment),
                options=[SegmentOptionNode.from_model(o) for o in a.options],
            )
            for a in found
        ]

    @strawberry.field(
        description="Members who are effective members of every attached segment (whatever "
        "its status); none without a segment."
    )
    async def member_count(self, info: Info) -> int:
        return await info.context.loaders.get(loaders.member_count).load(self.pk)

    @paginated(
        MemberType,
        make=MemberType.from_row,
        description="The members of memberCount, in member order.",
    )
    def members(self, info: Info) -> Rows[dict[str, Any]]:
        counts = info.context.loaders.get(loaders.member_count)
        return site_rows(
            info, members.MEMBERS, count=partial(counts.load, self.pk), persona_pk=self.pk
        )


@strawberry.type
class PersonaPayload:
    persona: PersonaNode | None
    user_errors: list[UserError]


@strawberry.type
class SegmentOptionPayload:
    option: SegmentOptionNode | None
    user_errors: list[UserError]


@strawberry.type(description="Where a segment is used: what would break if it went.")
class SegmentUsage:
    pk: strawberry.Private[int]

    @strawberry.field(description="The flags that target it, in key order.")
    async def feature_flags(self, info: Info) -> list[FeatureFlagNode]:
        flags = await info.context.loaders.get(flag_loaders.segment_flags).load(self.pk)
        return [FeatureFlagNode.from_model(f) for f in flags]

    @strawberry.field(
        description="The segments whose rules name it (in_segment), in name order: while "
        "there is one, deleteSegment and archiveSegment are refused."
    )
    async def segments(self, info: Info) -> list[SegmentNode]:
        rows = await info.context.loaders.get(loaders.referring_segments).load(self.pk)
        return [SegmentNode.from_model(s) for s in rows]

    @strawberry.field(description="The personas it is attached to, in name order.")
    async def personas(self, info: Info) -> list[PersonaNode]:
        return await segment_personas(info, self.pk)

    @strawberry.field(description="The email campaigns still sending to it, oldest first.")
    async def email_campaigns(self, info: Info) -> list[EmailCampaignNode]:
        rows = await info.context.loaders.get(loaders.sending_campaigns).load(self.pk)
        return [EmailCampaignNode.from_model(c) for c in rows]


async def segment_options(info: Info, segment_pk: int) -> list[SegmentOptionNode]:
    """Segment.options."""
    rows = await info.context.loaders.get(loaders.segment_options).load(segment_pk)
    return [SegmentOptionNode.from_model(o) for o in rows]


async def segment_personas(info: Info, segment_pk: int) -> list[PersonaNode]:
    """Segment.personas."""
    rows = await info.context.loaders.get(loaders.segment_personas).load(segment_pk)
    return [PersonaNode.from_model(p) for p in rows]
