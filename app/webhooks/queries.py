"""Webhook queries (ADMIN only: a webhook's URL says where the site's data goes)."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.viewer import Role
from app.webhooks import service
from app.webhooks.types import WebhookNode


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The site's webhooks, oldest first (ADMIN only).")
    async def webhooks(self, info: Info) -> list[WebhookNode]:
        viewer = info.context.require(Role.ADMIN)
        return [
            WebhookNode.from_model(w) for w in await service.list_webhooks(site_id=viewer.site_id)
        ]

    @strawberry.field(description="The webhook with that id; null for an unknown id (ADMIN only).")
    async def webhook(self, info: Info, id: strawberry.ID) -> WebhookNode | None:
        viewer = info.context.require(Role.ADMIN)
        found = await service.get(site_id=viewer.site_id, webhook_id=id)
        return WebhookNode.from_model(found) if found else None
