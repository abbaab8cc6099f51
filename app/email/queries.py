"""Email queries: thin resolvers over app.email.service."""

from __future__ import annotations

import strawberry

from app.email import service
from app.email.types import EmailCampaignNode
from app.graphql.context import Info
from app.graphql.nodes import site_node


@strawberry.type
class EmailQueries:
    @strawberry.field
    async def email_campaign(self, info: Info, id: strawberry.ID) -> EmailCampaignNode | None:
        return await site_node(info, service.get, EmailCampaignNode.from_model, campaign_id=id)
