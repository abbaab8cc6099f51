"""Webhook mutations (ADMIN only): the service decides, userErrors report."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.inputs import DeletePayload, id_list, provided
from app.graphql.mutation import mutation
from app.viewer import Role
from app.webhooks import service, worker
from app.webhooks.types import WebhookNode, WebhookPayload


@strawberry.input
class WebhookInput:
    url: str = strawberry.field(description="http(s); a public address unless configured.")
    segment_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="The segments whose changes it receives; null: every one."
    )
    description: str | None = None
    enabled: bool | None = True


@strawberry.input(
    description=("Merge update: an omitted field is left as it is; segmentIds null: every segment.")
)
class UpdateWebhookInput:
    url: str | None = strawberry.UNSET
    segment_ids: list[strawberry.ID] | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    enabled: bool | None = strawberry.UNSET


@strawberry.type
class WebhookMutations:
    @mutation(
        Role.ADMIN,
        description="A webhook, from the current end of the record on; its secret is in this "
        "answer only.",
    )
    async def create_webhook(self, info: Info, input: WebhookInput) -> WebhookPayload:
        data = service.WebhookData(
            url=input.url,
            segment_ids=id_list(input.segment_ids),
            description=input.description,
            enabled=input.enabled is not False,
        )
        made = await service.create(
            site_id=info.context.site_id,
            data=data,
            allow_private=info.context.settings.webhook_allow_private_networks,
        )
        return WebhookPayload(
            webhook=WebhookNode.from_model(made, secret=made.secret), user_errors=[]
        )

    @mutation(Role.ADMIN)
    async def update_webhook(
        self, info: Info, id: strawberry.ID, input: UpdateWebhookInput
    ) -> WebhookPayload:
        changes = provided(input)
        if changes.get("segment_ids") is not None:
            changes["segment_ids"] = [str(i) for i in changes["segment_ids"]]
        updated = await service.update(
            site_id=info.context.site_id,
            webhook_id=id,
            changes=changes,
            allow_private=info.context.settings.webhook_allow_private_networks,
        )
        if updated.enabled:
            worker.notify()  # it may have work waiting (enabled again)
        return WebhookPayload(webhook=WebhookNode.from_model(updated), user_errors=[])

    @mutation(Role.ADMIN, description="Delete a webhook and its deliveries.")
    async def delete_webhook(self, info: Info, id: strawberry.ID) -> DeletePayload:
        await service.delete(site_id=info.context.site_id, webhook_id=id)
        return DeletePayload(deleted_id=id, user_errors=[])
