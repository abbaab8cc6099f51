"""The record is compact: a row holds up to 4,096 changes of one write that share (segment,
kind, cause, at), its members as arrays (app.memberships.kept tells the shape).

A change a row cost five to six microseconds on PostgreSQL, most of it in the row and its
four indexes (the primary key, the site's ids, the segment's ids, the member's hash): a
DELETE of 50,000 listed ids spent 675 ms writing its record against 190 to 220 ms for the
listing-only DELETE itself. A row of 4,096 changes costs about what one change did.

The record has no index by member any more: a member's changes (``membershipChanges`` of a
member, the point-in-time answers) are found by reading the site's rows (after the moment
asked, for the past). A GIN index of ``member_refs`` was measured (bench/bulk.py, DELETE of
50,000, and 8 writes of 50,000 into a copy of a 1,000,000-change record): each member it
indexes costs about what a whole row of the old record did (5 to 8 us with ``fastupdate =
off``; with the pending list, 4 to 7 us once its merges are counted, and every read scans
that list), 250 to 330 ms a write of 50,000 against 55 to 90 ms for the rows themselves;
a side table of (member, row) with a hash index cost the same.

The rows already written become rows of one change each, under the same id: a change's id
is its row's id less the changes after it in the row (none here), so every cursor a reader
or a webhook keeps stays where it was, and the ids written from now on (the sequence's next
value shifted left 12 bits) are above all of them.

The database is changed by ``compact`` (raw SQL, per dialect: the arrays have no Tortoise
field shared by both); the model state by the state-only operations after it.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

from app.changes.models import MemberIds, MemberRefs

OLD_MEMBER_INDEX = "idx_membership__site_id_50bb3f"  # (site_id, member_ref, id); PG: a hash

POSTGRES = [
    "ALTER TABLE membership_changes ADD COLUMN size SMALLINT NOT NULL DEFAULT 1,"
    " ADD COLUMN member_ids BIGINT[], ADD COLUMN member_refs TEXT[]",
    "UPDATE membership_changes SET member_ids = ARRAY[member_id],"
    " member_refs = ARRAY[member_ref::text]",
    "ALTER TABLE membership_changes ALTER COLUMN size DROP DEFAULT,"
    " ALTER COLUMN member_ids SET NOT NULL, ALTER COLUMN member_refs SET NOT NULL",
    f"DROP INDEX IF EXISTS {OLD_MEMBER_INDEX}",
    "ALTER TABLE membership_changes DROP COLUMN member_id, DROP COLUMN member_ref",
]
SQLITE = [
    "ALTER TABLE membership_changes ADD COLUMN size SMALLINT NOT NULL DEFAULT 1",
    "ALTER TABLE membership_changes ADD COLUMN member_ids TEXT NOT NULL DEFAULT '[]'",
    "ALTER TABLE membership_changes ADD COLUMN member_refs TEXT NOT NULL DEFAULT '[]'",
    "UPDATE membership_changes SET member_ids = json_array(member_id),"
    " member_refs = json_array(member_ref)",
    f"DROP INDEX IF EXISTS {OLD_MEMBER_INDEX}",
    "ALTER TABLE membership_changes DROP COLUMN member_id",
    "ALTER TABLE membership_changes DROP COLUMN member_ref",
]


# The arrays of a row of 4,096 changes (some 60 kB) are TOASTed: compressed with pglz, the
# default, they cost 95 to 105 ms a write of 60,000 changes, with lz4 7 ms (and 10% more
# room), stored uncompressed 9 ms (and 60% more): lz4 where the server has it.
LZ4 = (
    "SELECT 1 AS yes FROM pg_settings WHERE name = 'default_toast_compression'"
    " AND 'lz4' = ANY(enumvals)"
)
ARRAYS = ("member_ids", "member_refs")


async def compact(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    postgres = client.capabilities.dialect == "postgres"
    for sql in POSTGRES if postgres else SQLITE:
        await client.execute_script(sql)
    if postgres:
        lz4 = bool(await client.execute_query_dict(LZ4))
        how = "SET COMPRESSION lz4" if lz4 else "SET STORAGE EXTERNAL"
        alter = ", ".join(f"ALTER COLUMN {column} {how}" for column in ARRAYS)
        await client.execute_script(f"ALTER TABLE membership_changes {alter}")


class StateOnly(ops.TortoiseOperation):
    """An operation on the model state alone (``compact`` made the change in the database)."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("models", "0014_record_member_hash")]

    initial = False

    operations = [
        ops.RunPython(compact),
        StateOnly(
            ops.RemoveIndex(
                model_name="MembershipChange", name=None, fields=["site_id", "member_ref", "id"]
            )
        ),
        StateOnly(
            ops.AlterModelOptions(
                name="MembershipChange",
                options={
                    "table": "membership_changes",
                    "app": "models",
                    "indexes": [
                        Index(fields=["site_id", "id"]),
                        Index(fields=["segment_id", "id"]),
                    ],
                    "pk_attr": "id",
                    "table_description": "Changes of one write (up to 4,096): members"
                    " ``member_refs`` ENTERED or EXITED segment",
                },
            )
        ),
        StateOnly(
            ops.AddField(
                model_name="MembershipChange",
                name="member_ids",
                field=MemberIds(generated=False, null=False, unique=False),
            )
        ),
        StateOnly(
            ops.AddField(
                model_name="MembershipChange",
                name="member_refs",
                field=MemberRefs(generated=False, null=False, unique=False),
            )
        ),
        StateOnly(
            ops.AddField(model_name="MembershipChange", name="size", field=fields.SmallIntField())
        ),
        StateOnly(ops.RemoveField(model_name="MembershipChange", name="member_id")),
        StateOnly(ops.RemoveField(model_name="MembershipChange", name="member_ref")),
    ]
