"""Sweepers of several processes skip a site another transaction holds: that takes PostgreSQL
(row locks, SKIP LOCKED); on SQLite, with one writer at a time by design, that test is not
collected at all (rather than skipped)."""

from __future__ import annotations

from tests.conftest import TEST_DATABASE_URL

collect_ignore = (
    []
    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else ["test_skip_locked.py"]
)
