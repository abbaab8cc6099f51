"""The two-process stream test needs PostgreSQL (NOTIFY between processes): on SQLite, where
messages stay in their process by design, it is not collected at all (rather than skipped)."""

from __future__ import annotations

from tests.conftest import TEST_DATABASE_URL

collect_ignore = (
    []
    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else ["test_stream_processes.py"]
)
