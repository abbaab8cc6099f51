"""The SQLite interrupt tests are not collected on PostgreSQL (rather than skipped): there
asyncpg cancels a statement on the server itself."""

from __future__ import annotations

from app.db import is_postgres_url
from tests.conftest import TEST_DATABASE_URL

collect_ignore = ["test_sqlite_interrupt.py"] if is_postgres_url(TEST_DATABASE_URL) else []
