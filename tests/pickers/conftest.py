"""The trigram index exists on PostgreSQL only (SQLite's pickers scan, by design): on SQLite the
index test is not collected at all (rather than skipped)."""

from __future__ import annotations

from tests.conftest import TEST_DATABASE_URL

collect_ignore = (
    []
    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else ["test_picker_index.py"]
)
