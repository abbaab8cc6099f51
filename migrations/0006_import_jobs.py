from tortoise import migrations
from tortoise.migrations import operations as ops
from app.jobs.models import ImportFormat, JobStatus
from app.memberships.bulk import Mode
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0005_email")]

    initial = False

    operations = [
        ops.CreateModel(
            name="ImportJob",
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
                (
                    "status",
                    fields.CharEnumField(
                        default=JobStatus.PENDING,
                        description="PENDING: PENDING\nRUNNING: RUNNING\nSUCCEEDED: SUCCEEDED\nFAILED: FAILED",
                        enum_type=JobStatus,
                        max_length=10,
                    ),
                ),
                (
                    "format",
                    fields.CharEnumField(
                        description="CSV: CSV\nJSON: JSON\nJSONL: JSONL",
                        enum_type=ImportFormat,
                        max_length=5,
                    ),
                ),
                ("segment_id", fields.BigIntField(null=True)),
                (
                    "mode",
                    fields.CharEnumField(
                        default=Mode.ADD,
                        description="ADD: ADD\nOVERRIDE: OVERRIDE\nDELETE: DELETE",
                        enum_type=Mode,
                        max_length=10,
                    ),
                ),
                ("actor", fields.CharField(max_length=100)),
                ("file_name", fields.CharField(max_length=255)),
                ("stored_name", fields.CharField(max_length=100)),
                ("file_size", fields.BigIntField()),
                ("byte_offset", fields.BigIntField(default=0)),
                ("line", fields.BigIntField(default=0)),
                ("rows_read", fields.BigIntField(default=0)),
                ("created", fields.BigIntField(default=0)),
                ("updated", fields.BigIntField(default=0)),
                ("added_to_segment", fields.BigIntField(default=0)),
                ("removed_from_segment", fields.BigIntField(default=0)),
                ("problems", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("problem_count", fields.BigIntField(default=0)),
                ("error", fields.TextField(null=True, unique=False)),
                ("owner", fields.CharField(null=True, max_length=64)),
                (
                    "heartbeat_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("attempts", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("started_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "finished_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "import_jobs",
                "app": "models",
                "indexes": [Index(fields=["status", "id"]), Index(fields=["site_id", "id"])],
                "pk_attr": "id",
                "table_description": "One import: its stored file, how far it has got, and its counts.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ImportJobIds",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "job",
                    fields.ForeignKeyField(
                        "models.ImportJob",
                        source_field="job_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("ids", fields.JSONField(encoder=JSON_DUMPS, decoder=loads)),
            ],
            options={
                "table": "import_job_ids",
                "app": "models",
                "pk_attr": "id",
                "table_description": "The ids one batch of a job imported, in file order, for the segment change at the end",
            },
            bases=["Model"],
        ),
    ]
