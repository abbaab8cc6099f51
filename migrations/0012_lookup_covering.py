"""The member-side index of listings covers what lookups read.

A lookup (isMember, memberSegments, membershipsOf, evaluateFlags) reads every listing and
every kept rule match of its members by ``member_id``: with the index on ``member_id`` alone
each row was a heap fetch, scattered over the table (a member's five listings, five pages;
membershipsOf of 100 ids, a thousand). The same index, by the same name, now carries the
columns those reads want (``INCLUDE``: not part of the key), so the reads are index-only.
It stays what the model declares (an index on ``member_id``), a little wider: no write
maintains one index more than before.

The kept rule matches' member-side index is made covering by the next migration
(``0013_member_matches``: the key ``(member_id, segment_id, id)``, read by lookups and upserts).

On SQLite this migration does nothing.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# name: (table, the columns included)
INDEXES = {
    "idx_segment_mem_member__079e46": ("segment_members", "segment_id, expires_at"),
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
