"""Trigram indexes for the pickers (searchMembers, searchCompanies) on PostgreSQL.

One GIN index (pg_trgm) per table over the lowered text the picker searches, its columns
joined by a newline, so that ``lower(col) LIKE '%q%'`` on any of them is answered from the
index through the same expression (app/pickers/service.py writes it identically).
``CREATE EXTENSION pg_trgm`` needs a role that may create extensions (a superuser, or
the database owner on PostgreSQL 13+ since pg_trgm is a trusted extension); a deployment
without one has the extension created once by its DBA before migrating.

On SQLite this migration does nothing: the pickers there stay a scan.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

MEMBERS = (
    "CREATE INDEX IF NOT EXISTS members_picker_trgm ON members USING gin"
    " ((lower(external_id || E'\\n' || COALESCE(email, '') || E'\\n' || COALESCE(name, '')))"
    " gin_trgm_ops)"
)
COMPANIES = (
    "CREATE INDEX IF NOT EXISTS companies_picker_trgm ON companies USING gin"
    " ((lower(external_id || E'\\n' || name)) gin_trgm_ops)"
)


async def forward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    await client.execute_script(MEMBERS)
    await client.execute_script(COMPANIES)


async def backward(apps: Any, schema_editor: Any) -> None:
    client = schema_editor.client
    if client.capabilities.dialect != "postgres":
        return
    await client.execute_script("DROP INDEX IF EXISTS members_picker_trgm")
    await client.execute_script("DROP INDEX IF EXISTS companies_picker_trgm")


class Migration(migrations.Migration):
    dependencies = [("models", "0007_personas_options_archive")]

    initial = False

    operations = [ops.RunPython(forward, backward)]
