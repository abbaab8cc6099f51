"""Indexes that let the pickers (searchMembers, searchCompanies) stop early on PostgreSQL.

The trigram indexes of 0008 find the rows holding a word, but in no order: a common word
(a last name shared by 40,000 members) was fetched and sorted whole to answer 20 rows.
These btrees give the pickers (app/pickers/service.py) two more ways in:

- per searched column, ``lower(column)`` with ``text_pattern_ops``: the exact and the
  prefix matches, read as a range (``~>=~``, ``~<~``) or by equality;
- per table, the label order (members: ``lower(COALESCE(email, name, external_id))``,
  companies: ``lower(name)``, then ``external_id``): a common word's matches are read in the
  order of the answer, and the read stops once the page is full.

Each index starts with ``site_id``, as every picker statement filters by site.
On SQLite this migration does nothing: the pickers there stay a scan.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

INDEXES = {
    "members_picker_label": (
        "members (site_id, lower(COALESCE(email, name, external_id)), external_id)"
    ),
    "members_picker_id": "members (site_id, lower(external_id) text_pattern_ops)",
    "members_picker_email": "members (site_id, lower(email) text_pattern_ops)",
    "members_picker_name": "members (site_id, lower(name) text_pattern_ops)",
    "companies_picker_label": "companies (site_id, lower(name), external_id)",
    "companies_picker_id": "companies (site_id, lower(external_id) text_pattern_ops)",
    "companies_picker_name": "companies (site_id, lower(name) text_pattern_ops)",
}


async def forward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for name, on in INDEXES.items():
        await client.execute_script(f"CREATE INDEX IF NOT EXISTS {name} ON {on}")


async def backward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    for name in INDEXES:
        await client.execute_script(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("models", "0010_webhooks")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
