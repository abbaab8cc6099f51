"""Webhooks (receivers of a site's membership changes) and what was sent to them."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields

from app.db import SiteScoped, Timestamped, owned_by, site_key

# the disabledReason of a webhook whose every segment was deleted (once it has delivered their
# last changes)
NO_SEGMENT_LEFT = (
    "every segment it received was deleted: name segments in segmentIds"
    " (null: every segment) to enable it again"
)


class DeliveryStatus(enum.Enum):
    PENDING = "PENDING"  # waiting to be sent, or for its next attempt
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # given up: the webhook was disabled after failing too long


# A receiver of the site's membership changes. `cursor` is the id of the last change of the
# record already put into a delivery; the worker that holds `claimed_until` (a lease that a
# dead worker's claim outlives by no more than its length) is the only one sending to it.
# (Comments, not docstrings: Tortoise would make a docstring the table's comment.)
class Webhook(Timestamped):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Any] = site_key(indexed=True)
    site_id: int
    url = fields.CharField(max_length=2048)
    description = fields.TextField(null=True)
    # segment pks whose changes it receives; null: every segment of the site
    segment_ids: list[int] | None = fields.JSONField(null=True)
    # deleted segments it named whose last changes (their SEGMENT_DELETED exits) it has still
    # to deliver: its batches read them with segment_ids until its cursor passes
    # `draining_until` (the last change of those segments) and that batch is delivered; then
    # both are cleared. Not shown by the API (segmentIds names existing segments only).
    draining_segment_ids: list[int] | None = fields.JSONField(null=True)
    draining_until = fields.BigIntField(null=True)
    enabled = fields.BooleanField(default=True)
    disabled_reason = fields.TextField(null=True)
    secret = fields.CharField(max_length=100)
    cursor = fields.BigIntField(default=0)
    # when the current run of failures began (null: the last attempt succeeded)
    failing_since = fields.DatetimeField(null=True)
    next_attempt_at = fields.DatetimeField(null=True)
    claimed_until = fields.DatetimeField(null=True)

    class Meta:
        table = "webhooks"


# One batch of changes for one webhook: the changes of its site with after_change < id <=
# last_change of the segments in `segment_ids` (as the webhook's filter was when the batch was
# made), so that every attempt sends the same body under the same id (the webhook-id header).
class WebhookDelivery(SiteScoped):
    webhook: fields.ForeignKeyRelation[Webhook] = owned_by("models.Webhook")
    webhook_id: int
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    after_change = fields.BigIntField()
    last_change = fields.BigIntField()
    segment_ids: list[int] | None = fields.JSONField(null=True)
    change_count = fields.IntField()
    attempts = fields.IntField(default=0)
    response_status = fields.IntField(null=True)
    error = fields.TextField(null=True)
    created_at = fields.DatetimeField()
    delivered_at = fields.DatetimeField(null=True)

    class Meta:
        table = "webhook_deliveries"
        indexes = (("webhook_id", "status"), ("webhook_id", "id"), ("status", "created_at"))
