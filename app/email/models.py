"""Email campaigns and their deliveries: one row per recipient, frozen when the campaign is
made, so that the worker never reads membership again."""

from __future__ import annotations

import enum

from tortoise import fields

from app.db import LongWork, SiteScoped, owned_by
from app.status import JobStatus

# a campaign SUCCEEDED when every delivery is settled and at least one was sent (or there was
# none to send); FAILED when every delivery is settled and none was sent
CampaignStatus = JobStatus


class DeliveryStatus(enum.Enum):
    PENDING = "PENDING"  # waiting for its turn (or for its next attempt)
    SENDING = "SENDING"  # claimed by a worker: never handed out again
    SENT = "SENT"
    FAILED = "FAILED"


class EmailCampaign(LongWork):
    # not a foreign key: a campaign outlives its segment (its segment then reads null)
    segment_id = fields.BigIntField()
    subject = fields.TextField()
    text = fields.TextField()
    html = fields.TextField(null=True)
    status = fields.CharEnumField(CampaignStatus, max_length=10, default=CampaignStatus.PENDING)
    recipients = fields.IntField(default=0)
    opted_out = fields.IntField(default=0)
    without_email = fields.IntField(default=0)

    class Meta:
        table = "email_campaigns"
        indexes = (("site_id", "segment_id"),)


class EmailDelivery(SiteScoped):
    campaign: fields.ForeignKeyRelation[EmailCampaign] = owned_by("models.EmailCampaign")
    campaign_id: int
    # the recipient as it was when the campaign was made
    member_pk = fields.BigIntField()
    member_id = fields.CharField(max_length=255)
    email = fields.CharField(max_length=320)
    name = fields.CharField(max_length=255, null=True)
    status = fields.CharEnumField(DeliveryStatus, max_length=10, default=DeliveryStatus.PENDING)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField()
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    # the server's reply to the last attempt that failed (or why it was never tried again)
    error = fields.TextField(null=True)

    class Meta:
        table = "email_deliveries"
        indexes = (("campaign_id", "status"), ("status", "next_attempt_at", "id"))
