"""GraphQL types of webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.nodes import from_attributes
from app.graphql.pagination import Rows, site_rows
from app.webhooks import service
from app.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery

strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type(name="WebhookDelivery")
class WebhookDeliveryNode:
    id: strawberry.ID = strawberry.field(
        description="Also the webhook-id header: a receiver drops a repeat by it."
    )
    status: DeliveryStatus
    attempts: int
    change_count: int
    response_status: int | None = strawberry.field(
        description="The HTTP status of the last attempt (null: no answer came)."
    )
    error: str | None = strawberry.field(description="Why the last attempt failed.")
    created_at: datetime
    delivered_at: datetime | None

    @classmethod
    def from_model(cls, d: WebhookDelivery) -> WebhookDeliveryNode:
        return from_attributes(cls, d, id=strawberry.ID(str(d.id)))


@strawberry.type(name="Webhook")
class WebhookNode:
    pk: strawberry.Private[int]
    id: strawberry.ID
    url: str
    description: str | None
    segment_ids: list[strawberry.ID] | None = strawberry.field(
        description="The segments whose changes it receives; null: every segment of the site."
    )
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Set when it was switched off after failing too long."
    )
    secret: str | None = strawberry.field(
        description="whsec_...: the signing secret, only in createWebhook's answer."
    )
    created_at: datetime

    @classmethod
    def from_model(cls, w: Webhook, *, secret: str | None = None) -> WebhookNode:
        segments = w.segment_ids
        return from_attributes(
            cls,
            w,
            pk=w.id,
            id=strawberry.ID(str(w.id)),
            segment_ids=None if segments is None else [strawberry.ID(str(s)) for s in segments],
            secret=secret,
        )

    @paginated(WebhookDeliveryNode, description="What was sent to it, newest first.")
    def deliveries(self, info: Info, status: DeliveryStatus | None = None) -> Rows[WebhookDelivery]:
        return site_rows(info, service.DELIVERIES, webhook_pk=self.pk, status=status)


@strawberry.type
class WebhookPayload:
    webhook: WebhookNode | None
    user_errors: list[UserError]
