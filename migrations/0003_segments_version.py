from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields


class Migration(migrations.Migration):
    dependencies = [("models", "0002_idempotency_and_exclusion_events")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Site",
            name="segments_version",
            field=fields.BigIntField(default=0, db_default=0),
        ),
    ]
