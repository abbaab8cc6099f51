"""The persona tests of PostgreSQL's row locks are not collected on SQLite (rather than
skipped): there a transaction already excludes every other writer."""

from __future__ import annotations

from app.db import is_postgres_url
from tests.conftest import TEST_DATABASE_URL

collect_ignore = [] if is_postgres_url(TEST_DATABASE_URL) else ["test_segment_delete_race.py"]
