"""A member's kept rule matches read from one index: (member_id, segment_id, id) instead of
(member_id). Upserts re-evaluate the rules of the members they write and read those
members' matches; the table is in segment order, so a member's few rows were on as many
pages (10,000 upserted members: 65,000 heap pages read, or the whole table scanned). With
the segment and the id in the index the read needs no heap page, and the matches that stop
matching are deleted by id. The index replaces the one on member_id (same first column)."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index


class Migration(migrations.Migration):
    dependencies = [("models", "0012_lookup_covering")]

    initial = False

    operations = [
        ops.AlterField(
            model_name="SegmentRuleMatch",
            name="member_id",
            field=fields.BigIntField(),
        ),
        ops.AddIndex(
            model_name="SegmentRuleMatch",
            index=Index(fields=["member_id", "segment_id", "id"]),
        ),
    ]
