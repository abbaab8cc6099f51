"""A webhook keeps the deleted segments it named until it has delivered their last changes.

Deleting a segment records an EXITED (SEGMENT_DELETED) for each of its members and, in the
same transaction, removes the segment from the ``segment_ids`` of the webhooks that named
it; their batches are read by those ids, so the exits were never sent to the very webhooks
that watched the segment. ``draining_segment_ids`` keeps such segments (read with
``segment_ids`` by the queue) until the webhook's cursor passes ``draining_until``, the
last change of those segments, and the batch holding it is delivered.
"""

from orjson import loads
from tortoise import fields, migrations
from tortoise.fields.data import JSON_DUMPS
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0015_compact_record")]

    initial = False

    operations = [
        ops.AddField(
            model_name="Webhook",
            name="draining_segment_ids",
            field=fields.JSONField(null=True, encoder=JSON_DUMPS, decoder=loads),
        ),
        ops.AddField(
            model_name="Webhook",
            name="draining_until",
            field=fields.BigIntField(null=True),
        ),
    ]
