from tortoise import migrations
from tortoise.migrations import operations as ops
from app.email.models import CampaignStatus, DeliveryStatus
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0004_feature_flags")]

    initial = False

    operations = [
        ops.CreateModel(
            name="EmailCampaign",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "site",
                    fields.ForeignKeyField(
                        "models.Site",
                        source_field="site_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("segment_id", fields.BigIntField()),
                ("subject", fields.TextField(unique=False)),
                ("text", fields.TextField(unique=False)),
                ("html", fields.TextField(null=True, unique=False)),
                (
                    "status",
                    fields.CharEnumField(
                        default=CampaignStatus.PENDING,
                        description="PENDING: PENDING\nRUNNING: RUNNING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED",
                        enum_type=CampaignStatus,
                        max_length=10,
                    ),
                ),
                ("recipients", fields.IntField(default=0)),
                ("opted_out", fields.IntField(default=0)),
                ("without_email", fields.IntField(default=0)),
                ("actor", fields.CharField(max_length=100)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "email_campaigns",
                "app": "models",
                "indexes": [Index(fields=["site_id", "segment_id"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="EmailDelivery",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "campaign",
                    fields.ForeignKeyField(
                        "models.EmailCampaign",
                        source_field="campaign_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("member_pk", fields.BigIntField()),
                ("member_id", fields.CharField(max_length=255)),
                ("email", fields.CharField(max_length=320)),
                ("name", fields.CharField(null=True, max_length=255)),
                (
                    "status",
                    fields.CharEnumField(
                        default=DeliveryStatus.PENDING,
                        description="PENDING: PENDING\nSENDING: SENDING\nSENT: SENT\nFAILED: FAILED",
                        enum_type=DeliveryStatus,
                        max_length=10,
                    ),
                ),
                ("attempts", fields.IntField(default=0)),
                ("next_attempt_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("claimed_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("error", fields.TextField(null=True, unique=False)),
            ],
            options={
                "table": "email_deliveries",
                "app": "models",
                "indexes": [
                    Index(fields=["campaign_id", "status"]),
                    Index(fields=["status", "next_attempt_at", "id"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
