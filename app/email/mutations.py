"""Email mutations: thin resolvers over app.email.service."""

from __future__ import annotations

import strawberry

from app.email import service
from app.email.types import EmailCampaignNode, EmailCampaignPayload
from app.graphql.context import Info
from app.graphql.inputs import id_list
from app.graphql.mutation import mutation
from app.viewer import Role


@strawberry.input
class SendSegmentEmailInput:
    segment_id: strawberry.ID
    subject: str = strawberry.field(description="{{name}}, {{email}} and {{id}} are filled in.")
    text: str = strawberry.field(
        description="{{name}}, {{email}} and {{id}} are filled in per recipient."
    )
    html: str | None = strawberry.field(
        default=None, description="Sent beside text; the filled-in values are HTML-escaped."
    )
    member_ids: list[strawberry.ID] | None = strawberry.field(
        default=None,
        description="Only these members of the segment; each must be an effective member.",
    )
    idempotency_key: str | None = None


@strawberry.type
class EmailMutations:
    @mutation(
        Role.WRITER,
        description=(
            "Freeze the recipients now and return the campaign (PENDING) at once;"
            " the worker sends each message at most once."
        ),
    )
    async def send_segment_email(
        self, info: Info, input: SendSegmentEmailInput
    ) -> EmailCampaignPayload:
        campaign = await service.send_segment_email(
            **info.context.acting,
            segment_id=input.segment_id,
            subject=input.subject,
            text=input.text,
            html=input.html,
            member_ids=id_list(input.member_ids),
            idempotency_key=input.idempotency_key,
        )
        return EmailCampaignPayload(campaign=EmailCampaignNode.from_model(campaign), user_errors=[])
