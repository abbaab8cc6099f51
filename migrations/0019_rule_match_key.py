"""The kept rule matches keyed by what they are: (segment_id, member_id), with no id.

``segment_rule_matches`` had a surrogate ``id`` (its sequence and primary key index), the
unique (segment_id, member_id) and a member index (member_id, segment_id, id): every match
written paid three index entries and a nextval. A rule edit over 100,000 members writing
15,000 matches spent about a quarter of its statement in those index inserts, and the id
served only the upsert's delete of the matches that stop matching (now by their key). The
table is rebuilt (in key order) with the primary key (segment_id, member_id) and the member
index (member_id, segment_id): two entries a match, the same reads from the indexes alone
(a segment's members by the key, a member's segments by the member index).

The model names ``segment_id`` as its key for the ORM only (see
app.changes.models.SegmentRuleMatch), which never reads or writes the table (raw SQL does):
the table is made here by raw SQL, per dialect, and the model state by the state-only
operations after it.
"""

from typing import Any

from tortoise import fields, migrations
from tortoise.migrations import operations as ops

TABLE = "segment_rule_matches"
NEW = "segment_rule_matches_keyed"
MEMBER_INDEX = "segment_rule_matches_member"


def _forward(pg: bool) -> list[str]:
    integer = "BIGINT" if pg else "INTEGER"
    # SQLite: the table is its key's B-tree (no rowid), as PostgreSQL's reads use the index
    rowid = "" if pg else " WITHOUT ROWID"
    steps = [
        f"CREATE TABLE {NEW} (site_id {integer} NOT NULL, segment_id {integer} NOT NULL,"
        f" member_id {integer} NOT NULL, CONSTRAINT {NEW}_pkey PRIMARY KEY (segment_id,"
        f" member_id)){rowid}",
        f"INSERT INTO {NEW} (site_id, segment_id, member_id) SELECT site_id, segment_id,"
        f" member_id FROM {TABLE} ORDER BY segment_id, member_id",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {NEW} RENAME TO {TABLE}",
        f"CREATE INDEX {MEMBER_INDEX} ON {TABLE} (member_id, segment_id)",
    ]
    if pg:
        steps.insert(4, f"ALTER INDEX {NEW}_pkey RENAME TO {TABLE}_pkey")
    return steps


def _backward(pg: bool) -> list[str]:
    key = "BIGSERIAL" if pg else "INTEGER PRIMARY KEY AUTOINCREMENT"
    integer = "BIGINT" if pg else "INTEGER"
    primary = ", PRIMARY KEY (id)" if pg else ""
    return [
        f"CREATE TABLE {NEW} (id {key}, site_id {integer} NOT NULL,"
        f" segment_id {integer} NOT NULL, member_id {integer} NOT NULL{primary},"
        " UNIQUE (segment_id, member_id))",
        f"INSERT INTO {NEW} (site_id, segment_id, member_id) SELECT site_id, segment_id,"
        f" member_id FROM {TABLE} ORDER BY segment_id, member_id",
        f"DROP TABLE {TABLE}",
        f"ALTER TABLE {NEW} RENAME TO {TABLE}",
        f"CREATE INDEX {MEMBER_INDEX} ON {TABLE} (member_id, segment_id, id)",
    ]


async def rekey(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for sql in _forward(client.capabilities.dialect == "postgres"):
        await client.execute_script(sql)


async def unkey(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    for sql in _backward(client.capabilities.dialect == "postgres"):
        await client.execute_script(sql)


class StateOnly(ops.TortoiseOperation):
    """An operation on the model state alone (``rekey`` made the table)."""

    def __init__(self, operation: ops.TortoiseOperation) -> None:
        self.operation = operation

    def describe(self) -> str:
        return f"{self.operation.describe()} (state only)"

    def state_forward(self, app_label: str, state: Any) -> None:
        self.operation.state_forward(app_label, state)


class Migration(migrations.Migration):
    dependencies = [("models", "0018_prune_marks")]

    initial = False

    operations = [
        ops.RunPython(rekey, unkey),
        StateOnly(ops.DeleteModel(name="SegmentRuleMatch")),
        StateOnly(
            ops.CreateModel(
                name="SegmentRuleMatch",
                fields=[
                    ("segment_id", fields.BigIntField(generated=False, primary_key=True)),
                    ("site_id", fields.BigIntField()),
                    ("member_id", fields.BigIntField()),
                ],
                options={"table": TABLE, "app": "models", "pk_attr": "segment_id"},
                bases=["Model"],
            )
        ),
    ]
