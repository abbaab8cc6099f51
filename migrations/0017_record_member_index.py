"""The record's member index, written in the background.

``membershipChanges(memberId:)`` and the point-in-time answers (``isMember(at:)``,
``memberSegments(at:)``) read a member's changes; the record has no index by member since
migration 0015 (a GIN index of ``member_refs``, or a side table written with each row, cost a
write of 50,000 changes 250 to 330 ms against 55 to 90 ms for the rows themselves), so they
scanned the site's rows: about 0.1 s a million changes on PostgreSQL.

The index is written by the sweeper instead (app.changes.index), past a per-site watermark:
``membership_member_rows`` holds (site_id, member_ref, row_id), one entry per change of a
row indexed, and ``membership_index_marks`` each site's watermark. The readers use the index
up to the watermark and scan only the rows after it; the writers do not change.

The entries table has no primary key (Tortoise's model names ``row_id`` as one; see
app.changes.models.MemberRow): the tables are made here by raw SQL, per dialect, and the
model state by the state-only operations after it. The readers' index is a B-tree of
(site_id, member_ref): on PostgreSQL its deduplication keeps a member's key once for all its
entries (measured on 250,000 entries of 40,000 members: 3.5 MB, against 9.2 MB for a hash
of member_ref). The pruning's is a BRIN of ``row_id`` on PostgreSQL (entries are appended in
the record's order: a few pages for millions of entries), a B-tree on SQLite.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

POSTGRES = [
    "CREATE TABLE IF NOT EXISTS membership_member_rows (row_id BIGINT NOT NULL,"
    " site_id BIGINT NOT NULL, member_ref TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS membership_member_rows_ref ON membership_member_rows"
    " (site_id, member_ref)",
    "CREATE INDEX IF NOT EXISTS membership_member_rows_row ON membership_member_rows"
    " USING brin (row_id)",
    "CREATE TABLE IF NOT EXISTS membership_index_marks (site_id BIGINT NOT NULL PRIMARY KEY,"
    " indexed_to BIGINT NOT NULL DEFAULT 0)",
]
SQLITE = [
    "CREATE TABLE IF NOT EXISTS membership_member_rows (row_id INTEGER NOT NULL,"
    " site_id INTEGER NOT NULL, member_ref TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS membership_member_rows_ref ON membership_member_rows"
    " (site_id, member_ref)",
    "CREATE INDEX IF NOT EXISTS membership_member_rows_row ON membership_member_rows (row_id)",
    "CREATE TABLE IF NOT EXISTS membership_index_marks (site_id INTEGER NOT NULL PRIMARY KEY,"
    " indexed_to INTEGER NOT NULL DEFAULT 0)",
]
DROP = ["DROP TABLE IF EXISTS membership_member_rows", "DROP TABLE IF EXISTS membership_index_marks"]


async def create(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for sql in POSTGRES if client.capabilities.dialect == "postgres" else SQLITE:
        await client.execute_script(sql)


async def drop(apps: Any, schema_editor: Any) -> None:
    for sql in DROP:
        await schema_editor.client.execute_script(sql)


class StateOnly(ops.TortoiseOperation):
    """An operation on the model state alone (``create`` made the tables)."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("models", "0016_webhook_draining")]

    initial = False

    operations = [
        ops.RunPython(create, drop),
        StateOnly(
            ops.CreateModel(
                name="MemberRow",
                fields=[
                    ("row_id", fields.BigIntField(generated=False, primary_key=True)),
                    ("site_id", fields.BigIntField()),
                    ("member_ref", fields.TextField()),
                ],
                options={"table": "membership_member_rows", "app": "models", "pk_attr": "row_id"},
                bases=["Model"],
            )
        ),
        StateOnly(
            ops.CreateModel(
                name="MemberIndexMark",
                fields=[
                    ("site_id", fields.BigIntField(generated=False, primary_key=True)),
                    ("indexed_to", fields.BigIntField(default=0)),
                ],
                options={"table": "membership_index_marks", "app": "models", "pk_attr": "site_id"},
                bases=["Model"],
            )
        ),
    ]
