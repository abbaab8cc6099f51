"""The member-side indexes of listings and kept rule matches cover what lookups read.

A lookup (isMember, memberSegments, membershipsOf, evaluateFlags) reads every listing and
every kept rule match of its members by ``member_id``: with the index on ``member_id`` alone
each row was a heap fetch, scattered over the table (a member's five listings, five pages;
membershipsOf of 100 ids, a thousand). The same indexes, by the same names, now carry the
columns those reads want (``INCLUDE``: not part of the key), so the reads are index-only.
They stay what the models declare (an index on ``member_id``), a little wider: no write
maintains one index more than before.

On SQLite this migration does nothing.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# name: (table, the columns included)
INDEXES = {
    "idx_segment_mem_member__079e46": ("segment_members", "segment_id, expires_at"),
    "idx_segment_rul_member__495413": ("segment_rule_matches", "segment_id"),
}


async def _rebuild(schema_editor: Any, covering: bool) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for name, (table, included) in INDEXES.items():
        include = f" INCLUDE ({included})" if covering else ""
        await client.execute_script(
            f"DROP INDEX IF EXISTS {name}; CREATE INDEX {name} ON {table} (member_id){include}"
        )


async def forward(apps: Any, schema_editor: Any) -> None:
    await _rebuild(schema_editor, covering=True)


async def backward(apps: Any, schema_editor: Any) -> None:
    await _rebuild(schema_editor, covering=False)


class Migration(migrations.Migration):
    dependencies = [("models", "0011_picker_speed")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
