"""The service's PostgreSQL connections: what every session is opened with."""

from __future__ import annotations

from app.db import fetch, is_postgres, tortoise_config


async def test_postgres_sessions_are_opened_without_jit(database: str) -> None:
    # when the ORM is configured for a PostgreSQL URL
    config = tortoise_config("postgres://u@db.example:5432/segments")
    credentials = config["connections"]["default"]["credentials"]

    # then its sessions turn JIT compilation off, and (on the PostgreSQL run) the session the
    # tests opened the way the service does says so
    assert credentials["server_settings"]["jit"] == "off"
    if is_postgres():
        rows = await fetch("SELECT current_setting('jit') AS v", [])
        assert rows[0]["v"] == "off"
