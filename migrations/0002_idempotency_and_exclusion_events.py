from tortoise import migrations
from tortoise.migrations import operations as ops
from app.events.models import EventKind
from orjson import loads
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0001_initial")]

    initial = False

    operations = [
        ops.CreateModel(
            name="IdempotencyKey",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                ("key", fields.CharField(max_length=255)),
                ("operation", fields.CharField(max_length=64)),
                ("request_hash", fields.CharField(max_length=64)),
                ("payload", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "idempotency_keys",
                "app": "models",
                "unique_together": (("site_id", "key"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AlterField(
            model_name="SegmentEvent",
            name="kind",
            field=fields.CharEnumField(
                description="CREATED: CREATED\nUPDATED: UPDATED\nDELETED: DELETED\nMEMBERS_ADDED: MEMBERS_ADDED\nMEMBERS_REMOVED: MEMBERS_REMOVED\nCOMPANIES_ADDED: COMPANIES_ADDED\nCOMPANIES_REMOVED: COMPANIES_REMOVED\nEMAIL_SENT: EMAIL_SENT\nMEMBERS_EXCLUDED: MEMBERS_EXCLUDED\nEXCLUSIONS_REMOVED: EXCLUSIONS_REMOVED",
                enum_type=EventKind,
                max_length=20,
            ),
        ),
    ]
