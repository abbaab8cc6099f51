"""Email queries: thin resolvers over app.email.service."""

from __future__ import annotations

import strawberry

from app.email import service
from app.email.types import EmailCampaignNode
from app.graphql.context import Info


@strawberry.type
class EmailQueries:
    @strawberry.field
    async def email_campaign(self, info: Info, id: strawberry.ID) -> EmailCampaignNode | None:
        campaign = await service.get(site_id=info.context.site_id, campaign_id=id)
        return EmailCampaignNode.from_model(campaign) if campaign else None
