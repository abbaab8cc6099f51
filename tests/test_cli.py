"""The `segments` command, run for real in a subprocess on a fresh SQLite file: the first
start makes a site and prints an ADMIN key once, sites and keys are administered from the
command line, and the keys it makes work (and stop working) over real HTTP."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.processes import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
KEY = re.compile(r"\bseg_[A-Za-z0-9_-]{20,}")
START_TIMEOUT = 60.0

VIEWER = "query { viewer { siteName keyName role } }"
CREATE_SEGMENT = """
mutation($name: String!) { createSegment(input: {name: $name}) { segment { name } } }
"""


@dataclass
class Server:
    url: str
    output: Path

    def printed(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace")

    def post(self, query: str, key: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """A fresh SQLite file for the command to create."""
    return f"sqlite://{tmp_path}/cli.sqlite3"


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(DATABASE_URL=database_url, GRAPHIQL="false", LOG_LEVEL="WARNING")
    env.update(extra)
    return env


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=_env(database_url),
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def _serve(database_url: str, output: Path, **env: str) -> Iterator[Server]:
    """`segments serve` on a free port until the block ends; its output goes to a file."""
    port = free_port()
    server = Server(url=f"http://127.0.0.1:{port}", output=output)
    with output.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=ROOT,
            env=_env(database_url, **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_until_up(server, process)
            yield server
        finally:
            stop(process)


def _wait_until_up(server: Server, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}:\n{server.printed()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not answer within {START_TIMEOUT}s:\n{server.printed()}")


def _wait_for_401(server: Server, key: str, within: float) -> httpx.Response:
    deadline = time.monotonic() + within
    while True:
        response = server.post(VIEWER, key)
        if response.status_code == 401 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


# ------------------------------------------------------------------ serve


def test_first_start_prints_an_admin_key_once_and_it_works(
    database_url: str, tmp_path: Path
) -> None:
    # given a database that does not exist yet
    # when the server starts on it for the first time
    with _serve(database_url, tmp_path / "first.log") as server:
        printed = server.printed()
        keys = KEY.findall(printed)

        # then it prints one ADMIN key, which works over HTTP on the site it made
        assert len(set(keys)) == 1, printed
        key = keys[0]
        assert "ADMIN" in printed
        response = server.post(VIEWER, key)
        assert response.status_code == 200
        assert response.json()["data"]["viewer"] == {
            "siteName": "Default site",
            "keyName": "admin",
            "role": "ADMIN",
        }
        created = server.post(CREATE_SEGMENT, key, {"name": "Kept across restarts"})
        assert created.json()["data"]["createSegment"]["segment"] == {
            "name": "Kept across restarts"
        }

    # and when it starts a second time on the same database
    with _serve(database_url, tmp_path / "second.log") as server:
        # then it prints no key, and the first key and data are still there
        assert KEY.findall(server.printed()) == []
        response = server.post("query { segments { totalCount } }", key)
        assert response.json()["data"]["segments"]["totalCount"] == 1


def test_an_unknown_key_gets_401_over_http(database_url: str, tmp_path: Path) -> None:
    # given a running server
    with _serve(database_url, tmp_path / "serve.log") as server:
        # when a key it never made is used
        response = server.post(VIEWER, "seg_" + "x" * 43)

        # then the request is refused with 401
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


# ------------------------------------------------------------------ migrate, sites, keys


def test_migrate_makes_the_database_and_can_run_again(database_url: str) -> None:
    # when migrate runs on a fresh file, twice
    first = _cli(database_url, "migrate")
    second = _cli(database_url, "migrate")

    # then both succeed and the database has no site yet
    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    listed = _cli(database_url, "sites", "list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.strip() == ""


def test_sites_create_then_list(database_url: str) -> None:
    # given a migrated database
    assert _cli(database_url, "migrate").returncode == 0

    # when two sites are created
    shop = _cli(database_url, "sites", "create", "shop", "--name", "The Shop")
    blog = _cli(database_url, "sites", "create", "blog")

    # then both are listed with their slugs and names
    assert shop.returncode == 0 and "shop" in shop.stdout, shop.stderr
    assert blog.returncode == 0, blog.stderr
    rows = [line.split("\t") for line in _cli(database_url, "sites", "list").stdout.splitlines()]
    assert [(row[1], row[2]) for row in rows] == [("shop", "The Shop"), ("blog", "blog")]


def test_sites_create_refuses_a_taken_or_bad_slug(database_url: str) -> None:
    # given a site "shop"
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0

    # when "shop" is created again, and a slug with bad characters
    again = _cli(database_url, "sites", "create", "shop")
    bad = _cli(database_url, "sites", "create", "Not A Slug")

    # then both fail with a message, and one site remains
    assert again.returncode == 1 and "already exists" in again.stderr
    assert bad.returncode == 1 and "slug" in bad.stderr
    assert len(_cli(database_url, "sites", "list").stdout.splitlines()) == 1


def test_sites_create_refuses_a_name_over_200_characters_in_one_line(database_url: str) -> None:
    # given a migrated database
    assert _cli(database_url, "migrate").returncode == 0

    # when a site is given a name of 201 characters, and one of blanks only
    long = _cli(database_url, "sites", "create", "shop", "--name", "n" * 201)
    blank = _cli(database_url, "sites", "create", "blog", "--name", "   ")

    # then the first fails with one line (not a traceback) and no site; the blank name is
    # as no name: the slug
    assert long.returncode == 1
    assert long.stderr == "error: site name must be 1 to 200 characters\n"
    assert blank.returncode == 0, blank.stderr
    rows = [line.split("\t") for line in _cli(database_url, "sites", "list").stdout.splitlines()]
    assert [(row[1], row[2]) for row in rows] == [("blog", "blog")]


def test_keys_create_for_an_unknown_site_fails(database_url: str) -> None:
    # given a migrated database without the site "nope"
    assert _cli(database_url, "migrate").returncode == 0

    # when a key is made for it
    result = _cli(
        database_url, "keys", "create", "--site", "nope", "--role", "READER", "--name", "k"
    )

    # then it fails naming the site, and prints no key
    assert result.returncode == 1
    assert "nope" in result.stderr
    assert KEY.findall(result.stdout) == []


def test_keys_create_prints_a_working_secret_and_revoke_stops_it(
    database_url: str, tmp_path: Path
) -> None:
    # given a site "shop" made from the command line
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop", "--name", "The Shop").returncode == 0

    # when a READER key is made for it
    made = _cli(
        database_url, "keys", "create", "--site", "shop", "--role", "READER", "--name", "ci"
    )

    # then stdout is the secret alone (the rest goes to stderr)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert KEY.fullmatch(secret), made.stdout
    assert "READER" in made.stderr and secret not in made.stderr

    # a database with a site already gets no first-start key; the key works over HTTP
    with _serve(database_url, tmp_path / "serve.log", KEY_CACHE_SECONDS="1") as server:
        assert KEY.findall(server.printed()) == []
        response = server.post(VIEWER, secret)
        assert response.status_code == 200
        assert response.json()["data"]["viewer"] == {
            "siteName": "The Shop",
            "keyName": "ci",
            "role": "READER",
        }
        # and a READER may not write
        refused = server.post(CREATE_SEGMENT, secret, {"name": "x"})
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"

        # when the key is revoked from the command line, by the prefix `keys list` shows
        listed = _cli(database_url, "keys", "list", "--site", "shop").stdout.splitlines()
        [row] = [line.split("\t") for line in listed]
        assert row[1].endswith("...")
        prefix = row[1].removesuffix("...")
        assert secret.startswith(prefix)
        revoked = _cli(database_url, "keys", "revoke", prefix, "--site", "shop")
        assert revoked.returncode == 0, revoked.stderr
        assert "ci" in revoked.stdout

        # then the running server refuses it with 401 once its key cache (1s here) expires
        response = _wait_for_401(server, secret, within=10)
        assert response.status_code == 401
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"

    # and `keys list` shows it revoked
    [row] = [
        line.split("\t")
        for line in _cli(database_url, "keys", "list", "--site", "shop").stdout.splitlines()
    ]
    assert row[4].startswith("revoked")


def test_keys_revoke_by_id_and_an_unknown_key(database_url: str) -> None:
    # given a site with two keys
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0
    for name in ("one", "two"):
        made = _cli(
            database_url, "keys", "create", "--site", "shop", "--role", "WRITER", "--name", name
        )
        assert made.returncode == 0, made.stderr
    ids = {
        row[3]: row[0]
        for row in (
            line.split("\t")
            for line in _cli(database_url, "keys", "list", "--site", "shop").stdout.splitlines()
        )
    }

    # when one is revoked by its id, and an unknown key is revoked
    by_id = _cli(database_url, "keys", "revoke", ids["two"], "--site", "shop")
    unknown = _cli(database_url, "keys", "revoke", "seg_nothing", "--site", "shop")

    # then the first succeeds, the second fails, and only "two" is revoked
    assert by_id.returncode == 0, by_id.stderr
    assert unknown.returncode == 1 and "not found" in unknown.stderr
    states = {
        row[3]: row[4]
        for row in (
            line.split("\t")
            for line in _cli(database_url, "keys", "list", "--site", "shop").stdout.splitlines()
        )
    }
    assert states["one"] == "active"
    assert states["two"].startswith("revoked")


def test_keys_list_on_an_ascii_terminal_and_revoke_by_the_column_it_prints(
    database_url: str,
) -> None:
    # given a site with a key
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0
    made = _cli(database_url, "keys", "create", "--site", "shop", "--role", "READER", "--name", "k")
    assert made.returncode == 0, made.stderr

    # when the keys are listed to an output that takes ASCII only
    listed = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "list", "--site", "shop"],
        cwd=ROOT,
        env={**_env(database_url), "PYTHONIOENCODING": "ascii"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    # then they are listed (no UnicodeEncodeError), the prefix shown as "seg_...",
    assert listed.returncode == 0, listed.stderr
    [row] = [line.split("\t") for line in listed.stdout.splitlines()]
    assert row[1].endswith("...") and made.stdout.strip().startswith(row[1].removesuffix("..."))
    # and that column, pasted as it is, revokes the key
    revoked = _cli(database_url, "keys", "revoke", row[1], "--site", "shop")
    assert revoked.returncode == 0, revoked.stderr
    [row] = [
        line.split("\t")
        for line in _cli(database_url, "keys", "list", "--site", "shop").stdout.splitlines()
    ]
    assert row[4].startswith("revoked")


def test_keys_create_refuses_an_unknown_role(database_url: str) -> None:
    # when a key is made with a role that does not exist
    result = _cli(database_url, "keys", "create", "--site", "s", "--role", "ROOT", "--name", "k")

    # then the command refuses it and lists the roles
    assert result.returncode == 2
    assert "ADMIN" in result.stderr and "READER" in result.stderr


def test_a_postgres_database_that_does_not_exist_is_made_and_said_aloud() -> None:
    # given a PostgreSQL URL naming a database that does not exist (the server the PostgreSQL
    # suite uses, else the local one the README's test command starts)
    from tests.conftest import TEST_DATABASE_URL, _drop_postgres_database

    server = (
        TEST_DATABASE_URL.rsplit("/", 1)[0]
        if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
        else "postgres://postgres@127.0.0.1:5432"
    )
    name = f"segments_test_cli_{os.getpid()}"
    url = f"{server}/{name}"
    try:
        # when migrate runs on it twice
        first = _cli(url, "migrate")
        second = _cli(url, "migrate")

        # then the first makes it and says so (a mistyped DATABASE_URL is not a silent first
        # start on an empty database), the second finds it and says nothing of the kind
        assert first.returncode == 0, first.stderr
        assert f"Created PostgreSQL database '{name}'" in first.stderr
        assert second.returncode == 0, second.stderr
        assert "Created PostgreSQL database" not in second.stderr
    finally:
        asyncio.run(_drop_postgres_database(url))
