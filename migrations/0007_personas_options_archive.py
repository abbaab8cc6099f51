from tortoise import migrations
from tortoise.migrations import operations as ops
from app.events.models import EventKind
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0006_import_jobs")]

    initial = False

    operations = [
        ops.CreateModel(
            name="Persona",
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
                ("name", fields.CharField(max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "personas",
                "app": "models",
                "unique_together": (("site", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PersonaSegment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "persona",
                    fields.ForeignKeyField(
                        "models.Persona",
                        source_field="persona_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "segment",
                    fields.ForeignKeyField(
                        "models.Segment",
                        source_field="segment_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "persona_segments",
                "app": "models",
                "unique_together": (("persona", "segment"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentOption",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "segment",
                    fields.ForeignKeyField(
                        "models.Segment",
                        source_field="segment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("label", fields.CharField(max_length=200)),
                ("description", fields.TextField(null=True, unique=False)),
                ("position", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "segment_options",
                "app": "models",
                "unique_together": (("segment", "label"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="PersonaOption",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "attachment",
                    fields.ForeignKeyField(
                        "models.PersonaSegment",
                        source_field="attachment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "option",
                    fields.ForeignKeyField(
                        "models.SegmentOption",
                        source_field="option_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
            ],
            options={
                "table": "persona_options",
                "app": "models",
                "unique_together": (("attachment", "option"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.AddField(
            model_name="Segment",
            name="archived_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AlterField(
            model_name="SegmentEvent",
            name="kind",
            field=fields.CharEnumField(
                description="CREATED: CREATED\nUPDATED: UPDATED\nDELETED: DELETED\nMEMBERS_ADDED: MEMBERS_ADDED\nMEMBERS_REMOVED: MEMBERS_REMOVED\nCOMPANIES_ADDED: COMPANIES_ADDED\nCOMPANIES_REMOVED: COMPANIES_REMOVED\nEMAIL_SENT: EMAIL_SENT\nMEMBERS_EXCLUDED: MEMBERS_EXCLUDED\nEXCLUSIONS_REMOVED: EXCLUSIONS_REMOVED\nARCHIVED: ARCHIVED\nRESTORED: RESTORED\nOPTION_CREATED: OPTION_CREATED\nOPTION_UPDATED: OPTION_UPDATED\nOPTION_DELETED: OPTION_DELETED\nPERSONA_ATTACHED: PERSONA_ATTACHED\nPERSONA_DETACHED: PERSONA_DETACHED",
                enum_type=EventKind,
                max_length=20,
            ),
        ),
        ops.AddField(
            model_name="SegmentEvent",
            name="changes",
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
    ]
