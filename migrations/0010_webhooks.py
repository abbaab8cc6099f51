from tortoise import migrations
from tortoise.migrations import operations as ops
from app.webhooks.models import DeliveryStatus
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0009_membership_record")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Webhook",
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
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("url", fields.CharField(max_length=2048)),
                ("description", fields.TextField(null=True, unique=False)),
                ("segment_ids", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("enabled", fields.BooleanField(default=True)),
                ("disabled_reason", fields.TextField(null=True, unique=False)),
                ("secret", fields.CharField(max_length=100)),
                ("cursor", fields.BigIntField(default=0)),
                (
                    "failing_since",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "next_attempt_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={"table": "webhooks", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="WebhookDelivery",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "webhook",
                    fields.ForeignKeyField(
                        "models.Webhook",
                        source_field="webhook_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "status",
                    fields.CharEnumField(
                        default=DeliveryStatus.PENDING,
                        description="PENDING: PENDING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED",
                        enum_type=DeliveryStatus,
                        max_length=10,
                    ),
                ),
                ("after_change", fields.BigIntField()),
                ("last_change", fields.BigIntField()),
                ("segment_ids", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("change_count", fields.IntField()),
                ("attempts", fields.IntField(default=0)),
                ("response_status", fields.IntField(null=True)),
                ("error", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "delivered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "webhook_deliveries",
                "app": "models",
                "indexes": [
                    Index(fields=["webhook_id", "status"]),
                    Index(fields=["webhook_id", "id"]),
                    Index(fields=["status", "created_at"]),
                ],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
