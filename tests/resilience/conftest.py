"""The outage tests cut a PostgreSQL connection for real (a proxy in between): they run with
the PostgreSQL suite, and are not collected on SQLite, which has no connection to cut."""

from __future__ import annotations

from tests.conftest import TEST_DATABASE_URL

collect_ignore = (
    [] if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://")) else ["test_outage.py"]
)
