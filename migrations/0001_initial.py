from tortoise import migrations
from tortoise.migrations import operations as ops
from app.auth.models import Role
from app.events.models import EventKind
from app.memberships.models import ListedSource
from app.segments.models import SegmentType
from orjson import loads
from tortoise.fields.base import OnDelete
from tortoise.fields.data import JSON_DUMPS
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="SegmentEvent",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("site_id", fields.BigIntField()),
                ("segment_id", fields.BigIntField()),
                (
                    "kind",
                    fields.CharEnumField(
                        description="CREATED: CREATED\nUPDATED: UPDATED\nDELETED: DELETED\nMEMBERS_ADDED: MEMBERS_ADDED\nMEMBERS_REMOVED: MEMBERS_REMOVED\nCOMPANIES_ADDED: COMPANIES_ADDED\nCOMPANIES_REMOVED: COMPANIES_REMOVED\nEMAIL_SENT: EMAIL_SENT",
                        enum_type=EventKind,
                        max_length=20,
                    ),
                ),
                ("actor", fields.CharField(max_length=100)),
                ("count", fields.IntField(default=0)),
                ("sample_ids", fields.JSONField(default=list, encoder=JSON_DUMPS, decoder=loads)),
                ("at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segment_events",
                "app": "models",
                "indexes": [Index(fields=["segment_id", "at"]), Index(fields=["site_id", "at"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Site",
            fields=[
                (
                    "id",
                    fields.BigIntField(
                        generated=True, primary_key=True, unique=True, db_index=True
                    ),
                ),
                ("slug", fields.CharField(unique=True, max_length=64)),
                ("name", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={"table": "sites", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="ApiKey",
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
                ("name", fields.CharField(max_length=100)),
                (
                    "role",
                    fields.CharEnumField(
                        description="ADMIN: ADMIN\nWRITER: WRITER\nREADER: READER",
                        enum_type=Role,
                        max_length=10,
                    ),
                ),
                ("prefix", fields.CharField(max_length=16)),
                ("key_hash", fields.CharField(unique=True, max_length=64)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                (
                    "last_used_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={"table": "api_keys", "app": "models", "pk_attr": "id"},
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Company",
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
                ("external_id", fields.CharField(max_length=255)),
                ("name", fields.CharField(max_length=255)),
                ("plan", fields.CharField(null=True, max_length=100)),
                ("attributes", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "companies",
                "app": "models",
                "unique_together": (("site", "external_id"),),
                "indexes": [Index(fields=["site_id", "name"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Member",
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
                ("external_id", fields.CharField(max_length=255)),
                ("email", fields.CharField(null=True, max_length=320)),
                ("name", fields.CharField(null=True, max_length=255)),
                (
                    "company",
                    fields.ForeignKeyField(
                        "models.Company",
                        source_field="company_id",
                        null=True,
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("attributes", fields.JSONField(default=dict, encoder=JSON_DUMPS, decoder=loads)),
                ("bucket", fields.SmallIntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "members",
                "app": "models",
                "unique_together": (("site", "external_id"),),
                "indexes": [Index(fields=["site_id", "email"])],
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Segment",
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
                (
                    "type",
                    fields.CharEnumField(
                        default=SegmentType.STATIC,
                        description="STATIC: STATIC\nDYNAMIC: DYNAMIC",
                        enum_type=SegmentType,
                        max_length=10,
                    ),
                ),
                ("is_active", fields.BooleanField(default=True)),
                ("starts_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("ends_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("rule", fields.TextField(null=True, unique=False)),
                ("rule_ast", fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads)),
                ("salt", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ("updated_at", fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={
                "table": "segments",
                "app": "models",
                "unique_together": (("site", "name"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentCompany",
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
                (
                    "company",
                    fields.ForeignKeyField(
                        "models.Company",
                        source_field="company_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segment_companies",
                "app": "models",
                "unique_together": (("segment", "company"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentExclusion",
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
                (
                    "member",
                    fields.ForeignKeyField(
                        "models.Member",
                        source_field="member_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segment_exclusions",
                "app": "models",
                "unique_together": (("segment", "member"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SegmentMember",
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
                (
                    "member",
                    fields.ForeignKeyField(
                        "models.Member",
                        source_field="member_id",
                        db_index=True,
                        db_constraint=True,
                        to_field="id",
                        related_name=False,
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "source",
                    fields.CharEnumField(
                        default=ListedSource.MANUAL,
                        description="MANUAL: MANUAL\nIMPORT: IMPORT\nRULE: RULE",
                        enum_type=ListedSource,
                        max_length=10,
                    ),
                ),
                ("added_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "segment_members",
                "app": "models",
                "unique_together": (("segment", "member"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
