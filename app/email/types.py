"""GraphQL types of email campaigns and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

import strawberry

# JobStatus is registered once, with the import jobs' types
import app.jobs.types  # noqa: F401
from app.email import loaders, service
from app.email.models import CampaignStatus, DeliveryStatus, EmailCampaign, EmailDelivery
from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.nodes import RowNode
from app.graphql.pagination import Rows, site_rows
from app.segments import loaders as segment_loaders
from app.segments.types import SegmentNode

strawberry.enum(DeliveryStatus, name="EmailDeliveryStatus")


@strawberry.type(name="EmailDelivery")
class EmailDeliveryNode(RowNode):
    member_id: strawberry.ID
    email: str
    name: str | None
    status: DeliveryStatus
    attempts: int
    error: str | None = strawberry.field(
        description="The server's reply to the last failed attempt, or why it was not retried."
    )
    sent_at: datetime | None

    @classmethod
    def from_model(cls, row: EmailDelivery, **given: Any) -> Self:
        return super().from_model(row, member_id=strawberry.ID(row.member_id), **given)


@strawberry.type(name="EmailCampaign")
class EmailCampaignNode(RowNode):
    segment_pk: strawberry.Private[int]
    subject: str
    text: str
    html: str | None
    status: CampaignStatus = strawberry.field(
        description=(
            "SUCCEEDED once every delivery is settled and one was sent (or there were none);"
            " FAILED when every delivery failed."
        )
    )
    recipients: int = strawberry.field(description="Members with an email and no opt-out.")
    opted_out: int = strawberry.field(description="Members left out: attributes.email_opt_out.")
    without_email: int = strawberry.field(description="Members left out: no email.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_model(cls, row: EmailCampaign, **given: Any) -> Self:
        return super().from_model(row, segment_pk=row.segment_id, **given)

    @strawberry.field(description="Null once the segment is deleted.")
    async def segment(self, info: Info) -> SegmentNode | None:
        segment = await info.context.loaders.get(segment_loaders.segment).load(self.segment_pk)
        return SegmentNode.from_model(segment) if segment else None

    @strawberry.field
    async def sent(self, info: Info) -> int:
        counts = await info.context.loaders.get(loaders.delivery_counts).load(self.pk)
        return counts.get(DeliveryStatus.SENT, 0)

    @strawberry.field
    async def failed(self, info: Info) -> int:
        counts = await info.context.loaders.get(loaders.delivery_counts).load(self.pk)
        return counts.get(DeliveryStatus.FAILED, 0)

    @paginated(EmailDeliveryNode, description="One per recipient, in recipient order.")
    def deliveries(self, info: Info, status: DeliveryStatus | None = None) -> Rows[EmailDelivery]:
        return site_rows(info, service.DELIVERIES, campaign_pk=self.pk, status=status)


@strawberry.type
class EmailCampaignPayload:
    campaign: EmailCampaignNode | None
    user_errors: list[UserError]
