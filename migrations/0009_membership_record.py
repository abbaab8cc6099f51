from tortoise import migrations
from tortoise.migrations import operations as ops
from app.changes.models import ChangeCause, ChangeKind
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index
from typing import Any

# The listings that will expire, by site and moment: every membership writer (and the sweeper)
# asks for those whose expiry passed since the last, and the answer is nearly always none.
EXPIRY_INDEX = (
    "CREATE INDEX IF NOT EXISTS segment_members_expiry ON segment_members (site_id, expires_at)"
    " WHERE expires_at IS NOT NULL"
)


async def _expiry_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script(EXPIRY_INDEX)


async def _drop_expiry_index(apps: Any, schema_editor: Any) -> None:
    await schema_editor.client.execute_script("DROP INDEX IF EXISTS segment_members_expiry")


class Migration(migrations.Migration):
    dependencies = [("models", "0008_picker_indexes")]

    initial = False

    operations = [
        ops.CreateModel(
            name="MembershipChange",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                ("segment_id", fields.BigIntField()),
                ("member_id", fields.BigIntField()),
                ("member_ref", fields.CharField(max_length=255)),
                (
                    "kind",
                    fields.CharEnumField(
                        description="ENTERED: ENTERED\nEXITED: EXITED",
                        enum_type=ChangeKind,
                        max_length=7,
                    ),
                ),
                (
                    "cause",
                    fields.CharEnumField(
                        description="LISTED: LISTED\nUNLISTED: UNLISTED\nEXPIRED: EXPIRED\nCOMPANY: COMPANY\nEXCLUDED: EXCLUDED\nMEMBER_CHANGED: MEMBER_CHANGED\nMEMBER_DELETED: MEMBER_DELETED\nRULE_CHANGED: RULE_CHANGED\nNESTED: NESTED\nTIME: TIME\nSEGMENT_DELETED: SEGMENT_DELETED",
                        enum_type=ChangeCause,
                        max_length=15,
                    ),
                ),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "membership_changes",
                "app": "models",
                "indexes": [
                    Index(fields=["site_id", "id"]),
                    Index(fields=["segment_id", "id"]),
                    Index(fields=["site_id", "member_ref", "id"]),
                ],
                "pk_attr": "id",
                "table_description": "Member ``member_ref`` ENTERED or EXITED segment ``segment_id`` at ``at``, for ``cause``.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="MembershipSite",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                (
                    "site",
                    fields.OneToOneField(
                        "models.Site",
                        source_field="site_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("history_from", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("swept_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("expired_to", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "membership_sites",
                "app": "models",
                "pk_attr": "id",
                "table_description": "One row per site: the lock its membership writers hold, its history's start, the sweep.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentCount",
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
                    fields.OneToOneField(
                        "models.Segment",
                        source_field="segment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("member_count", fields.BigIntField(default=0)),
                ("company_count", fields.BigIntField(default=0)),
            ],
            options={
                "table": "segment_counts",
                "app": "models",
                "pk_attr": "id",
                "table_description": "A segment's effective member count and listed company count, kept by every write.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentRuleMatch",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                ("segment_id", fields.BigIntField()),
                ("member_id", fields.BigIntField(db_index=True)),
            ],
            options={
                "table": "segment_rule_matches",
                "app": "models",
                "unique_together": (("segment_id", "member_id"),),
                "pk_attr": "id",
                "table_description": "Member ``member_id`` matches the rule of DYNAMIC segment ``segment_id`` (kept, not asked).",
            },
            bases=["Model"],
        ),
        ops.RunPython(_expiry_index, _drop_expiry_index),
    ]
