"""The CLI and the database it is given: one that cannot be reached is one line on stderr,
not a traceback; a PostgreSQL database that does not exist is made by serve and migrate
only (the others say so in one line)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import _drop_postgres_database
from tests.processes import free_port
from tests.test_cli import ROOT, _cli


@pytest.mark.parametrize(
    "command",
    [
        ["serve", "--port", "0"],
        ["migrate"],
        ["keys", "list", "--site", "default"],
        ["sites", "list"],
    ],
    ids=["serve", "migrate", "keys-list", "sites-list"],
)
def test_an_unreachable_database_is_one_line(command: list[str]) -> None:
    # given a PostgreSQL URL whose port nothing listens on
    port = free_port()
    url = f"postgres://postgres@127.0.0.1:{port}/segments_test_g_nowhere"

    # when a command runs on it
    result = _cli(url, *command)

    # then it fails with one line saying where and why, and no traceback
    assert result.returncode == 1
    assert result.stderr == (
        f"error: cannot reach the database at 127.0.0.1:{port}/segments_test_g_nowhere:"
        " connection refused\n"
    )
    assert "GraphiQL:" not in result.stdout


@pytest.mark.parametrize(
    "command",
    [["serve", "--port", "0"], ["migrate"], ["sites", "list"]],
    ids=["serve", "migrate", "sites-list"],
)
def test_a_file_that_is_no_sqlite_database_is_one_line(command: list[str], tmp_path: Path) -> None:
    # given a SQLite URL naming a file of text
    path = tmp_path / "notes.db"
    path.write_text("not a database, just some notes\n" * 100)

    # when a command runs on it
    result = _cli(f"sqlite://{path}", *command)

    # then it fails with one line saying which file and why, no traceback, the file untouched
    assert result.returncode == 1
    assert result.stderr == f"error: cannot use the database at {path}: file is not a database\n"
    assert path.read_text().startswith("not a database")


def _postgres_server() -> str:
    """The PostgreSQL server of the PostgreSQL suite, else the local one `make test` starts."""
    from tests.conftest import TEST_DATABASE_URL

    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://")):
        return TEST_DATABASE_URL.split("?", 1)[0].rsplit("/", 1)[0]
    return "postgres://postgres@127.0.0.1:5432"


async def _create(url: str) -> None:
    from app.db import create_postgres_database

    await create_postgres_database(url)


async def _exists(url: str) -> bool:
    from app.db import postgres_database_exists

    return await postgres_database_exists(url)


@pytest.mark.parametrize(
    "command",
    [
        ["sites", "list"],
        ["sites", "create", "acme"],
        ["keys", "list", "--site", "default"],
        ["keys", "create", "--site", "default", "--role", "ADMIN", "--name", "k"],
        ["keys", "revoke", "--site", "default", "1"],
    ],
    ids=["sites-list", "sites-create", "keys-list", "keys-create", "keys-revoke"],
)
def test_only_serve_and_migrate_make_a_missing_database(command: list[str]) -> None:
    # given a PostgreSQL URL naming a database that does not exist (a typo)
    name = f"segments_test_g_typo_{os.getpid()}"
    url = f"{_postgres_server()}/{name}"
    try:
        # when an administration command runs on it
        result = _cli(url, *command)

        # then it fails in one line pointing at `segments migrate`, and makes nothing
        assert result.returncode == 1
        assert result.stderr.count("\n") == 1, result.stderr
        assert f"error: database {name!r} does not exist" in result.stderr
        assert "run `segments migrate`" in result.stderr
        assert not asyncio.run(_exists(url))
    finally:
        asyncio.run(_drop_postgres_database(url))


def test_an_empty_database_url_means_the_default_sqlite_file(tmp_path: Path) -> None:
    # given DATABASE_URL set but empty, as `make test-sqlite` sets it (DATABASE_URL= ...)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL="", PYTHONPATH=str(ROOT), LOG_LEVEL="WARNING")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    # when a site is made and listed
    created = run("sites", "create", "acme", "--name", "Acme")
    listed = run("sites", "list")

    # then the commands use the default, ./data/segments.sqlite3, as with no DATABASE_URL
    # (not a traceback for a URL of no scheme)
    assert (created.returncode, created.stderr) == (0, "")
    assert listed.returncode == 0
    assert "acme\tAcme" in listed.stdout
    assert (tmp_path / "data" / "segments.sqlite3").is_file()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ("bogus_option=1", 'unrecognized configuration parameter "bogus_option"'),
        ("statement_timeout=soon", 'invalid value for parameter "statement_timeout"'),
        ("sslmode=sometimes", "`sslmode` parameter must be one of"),
    ],
    ids=["unknown-option", "bad-setting-value", "bad-sslmode"],
)
@pytest.mark.parametrize("command", [["migrate"], ["sites", "list"]], ids=["migrate", "sites"])
def test_an_option_of_the_url_the_database_refuses_is_one_line(
    command: list[str], options: str, says: str
) -> None:
    # given a URL of a database that exists, with an option the server or asyncpg refuses
    name = f"segments_test_g_options_{os.getpid()}"
    url = f"{_postgres_server()}/{name}?{options}"
    asyncio.run(_create(url.split("?", 1)[0]))
    try:
        # when a command runs on it
        result = _cli(url, *command)

        # then it is an invalid setting, said in one line (exit code 2), not a traceback
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error: invalid settings: DATABASE_URL: "), result.stderr
        assert says in result.stderr
        assert result.stderr.count("\n") == 1, result.stderr
    finally:
        asyncio.run(_drop_postgres_database(url.split("?", 1)[0]))


@pytest.mark.parametrize(
    ("options", "pool"),
    [
        ("", (2, 20)),
        ("minsize=5", (5, 20)),
        ("maxsize=7", (2, 7)),
        ("minsize=30", (30, 30)),
        ("maxsize=1", (1, 1)),
    ],
    ids=[
        "defaults",
        "minsize",
        "maxsize",
        "minsize-over-the-default-maxsize",
        "maxsize-under-the-default-minsize",
    ],
)
def test_the_pool_sizes_of_the_url_are_the_pool_s(options: str, pool: tuple[int, int]) -> None:
    from app.db import tortoise_config

    # given a URL that sets one pool size, or none
    url = "postgres://postgres@127.0.0.1:5432/segments" + (f"?{options}" if options else "")

    # then the pool is made with it, the other size at its default (README: "pool defaults
    # minsize=2&maxsize=20, override in the URL")
    credentials = tortoise_config(url)["connections"]["default"]["credentials"]
    assert (int(credentials["minsize"]), int(credentials["maxsize"])) == pool
