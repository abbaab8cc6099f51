"""What the pruning took: per site and segment, the last change id it deleted.

The sweeper deletes records older than MEMBERSHIP_HISTORY_DAYS; nothing said which ids went,
so a kept ``membershipChanges`` cursor older than the retained history read on with a silent
gap, and a webhook whose batch had been pruned sent it empty. ``membership_prune_marks``
holds, per (site_id, segment_id), ``pruned_to``: the highest change id of that segment the
pruning deleted (it only grows). A reader after a cursor below a mark may have lost changes;
one at or past every mark lost none. Sites pruned before this migration have no mark.
"""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0017_record_member_index")]

    initial = False

    operations = [
        ops.CreateModel(
            name="PruneMark",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True)),
                ("site_id", fields.BigIntField()),
                ("segment_id", fields.BigIntField()),
                ("pruned_to", fields.BigIntField()),
            ],
            options={
                "table": "membership_prune_marks",
                "app": "models",
                "unique_together": (("site_id", "segment_id"),),
                "pk_attr": "id",
            },
            bases=["Model"],
        ),
    ]
