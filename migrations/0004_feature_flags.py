from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0003_segments_version")]

    initial = False

    operations = [
        ops.CreateModel(
            name="FeatureFlag",
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
                ("key", fields.CharField(max_length=100)),
                ("description", fields.TextField(null=True, unique=False)),
                ("enabled", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "feature_flags",
                "app": "models",
                "unique_together": (("site", "key"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="FlagSegment",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                (
                    "flag",
                    fields.ForeignKeyField(
                        "models.FeatureFlag",
                        source_field="flag_id",
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
            ],
            options={
                "table": "flag_segments",
                "app": "models",
                "unique_together": (("flag", "segment"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
