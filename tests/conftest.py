"""A real database for every test, on the backend DATABASE_URL picks (SQLite file by default).

The database is made once per session by the migrations; each test starts from empty
tables. PostgreSQL test databases must have "test" in their name, since they are wiped.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tortoise import Tortoise

from app.auth.models import Role
from app.auth.service import clear_key_cache
from app.db import create_postgres_database, execute, is_postgres, normalize_url
from app.memberships import catalogue
from tests.factories import Api, make_api

_TMP = tempfile.mkdtemp(prefix="segments-test-")


def _test_database_url() -> str:
    url = os.environ.get("DATABASE_URL") or f"sqlite://{_TMP}/test.sqlite3"
    if url.startswith(("postgres://", "postgresql://")):
        name = normalize_url(url).split("?", 1)[0].rsplit("/", 1)[1]
        if "test" not in name:
            raise RuntimeError(f"refusing to wipe database {name!r}: its name must contain 'test'")
    return url


TEST_DATABASE_URL = _test_database_url()


async def _drop_postgres_database(url: str) -> None:
    import asyncpg

    base, _, name = normalize_url(url).split("?", 1)[0].rpartition("/")
    admin = await asyncpg.connect(base.replace("postgres://", "postgresql://", 1) + "/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def database() -> AsyncIterator[str]:
    """The session's database, made by the migrations; Tortoise is open on it."""
    from app.db import migrate_database, tortoise_config

    url = TEST_DATABASE_URL
    if url.startswith(("postgres://", "postgresql://")):
        await _drop_postgres_database(url)
        await create_postgres_database(url)
    else:
        Path(url.removeprefix("sqlite://")).unlink(missing_ok=True)
    await migrate_database(url)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    yield url
    await Tortoise.close_connections()


@pytest.fixture(scope="session")
async def app(database: str) -> AsyncIterator[Any]:
    """The ASGI app, its lifespan run, on the session's database."""
    from app.main import create_app
    from app.settings import get_settings

    os.environ["DATABASE_URL"] = database
    os.environ["EMAIL_OUTBOX_DIR"] = f"{_TMP}/outbox"
    # email tests run their own apps, each with a worker and the mail settings it needs
    os.environ["EMAIL_WORKER"] = "false"
    os.environ["IMPORT_DIR"] = f"{_TMP}/imports"
    os.environ["IMPORT_WORKER"] = "false"  # import tests run their own workers (tests/jobs)
    os.environ["MEMBERSHIP_SWEEPER"] = "false"  # tests sweep once, at a moment they choose
    get_settings.cache_clear()
    application = create_app(init_orm=False)
    async with LifespanManager(application):
        yield application


async def _truncate_all() -> None:
    tables = [m._meta.db_table for m in Tortoise.apps["models"].values()]
    if is_postgres():
        # DELETE with foreign-key triggers off: much faster than TRUNCATE on small tables
        deletes = "; ".join(f"DELETE FROM {t}" for t in tables)
        await Tortoise.get_connection("default").execute_script(
            f"SET session_replication_role = replica; {deletes};"
            " SET session_replication_role = DEFAULT"
        )
    else:
        await execute("PRAGMA foreign_keys = OFF")
        for table in tables:
            await execute(f"DELETE FROM {table}")
        await execute("PRAGMA foreign_keys = ON")


@pytest.fixture
async def db(database: str) -> AsyncIterator[None]:
    """Empty tables on the session's migrated database."""
    await _truncate_all()
    clear_key_cache()
    # site ids are reused once the tables are emptied: forget the cached segments
    catalogue.clear()
    yield


@pytest.fixture
async def client(app: Any, db: None) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


@pytest.fixture
async def api(client: httpx.AsyncClient) -> Api:
    """A site with an ADMIN key, speaking GraphQL over the ASGI app."""
    return await make_api(client, slug="acme", role=Role.ADMIN)


@pytest.fixture
async def other_api(client: httpx.AsyncClient) -> Api:
    """A second, unrelated site: what it sees of the first is the tenancy boundary."""
    return await make_api(client, slug="globex", role=Role.ADMIN)
