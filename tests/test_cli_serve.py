"""`segments serve`'s options and settings: what it refuses before starting (one line on
stderr, exit code 2), and the GraphiQL line it prints once the server answers."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app import cli
from tests.test_cli import ROOT, _env


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/cli.sqlite3"


def _serve(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`segments serve` with the options, expected to end on its own."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", *args],
        cwd=ROOT,
        env=_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
    )


def _serve_refused(database_url: str, settings: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``segments serve --port 0`` with ``settings``, run until it ends (it should refuse)."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
        cwd=ROOT,
        env={**_env(database_url), **settings},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"IMPORT_DIR": "/proc/segments-imports"}, "IMPORT_DIR: cannot write in"),
        ({"EMAIL_OUTBOX_DIR": "/proc/segments-outbox"}, "EMAIL_OUTBOX_DIR: cannot write in"),
    ],
    ids=["imports", "outbox"],
)
def test_a_folder_serve_cannot_write_in_is_one_line(
    database_url: str, settings: dict[str, str], says: str
) -> None:
    # when serve is started with a folder for uploads (or outgoing mail) it cannot make: every
    # import would fail INTERNAL, every message be retried forever
    result = _serve_refused(database_url, {**settings, "EMAIL_WORKER": "true"})

    # then it refuses to start, in one line naming the setting (exit code 2), before any URL
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: invalid settings: {says} /proc/segments-")
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "/graphql" not in result.stdout


def test_the_outbox_is_not_needed_with_an_smtp_server(database_url: str, tmp_path: Path) -> None:
    # given an SMTP server to send through, the outbox folder is never written: not checked
    env = {
        **_env(database_url),
        "SMTP_URL": "smtp://127.0.0.1:1",
        "EMAIL_OUTBOX_DIR": "/proc/segments-outbox",
        "IMPORT_DIR": str(tmp_path / "imports"),
    }
    output = tmp_path / "out.txt"
    with output.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while "GraphQL: " not in output.read_text() and process.poll() is None:
                assert time.monotonic() < deadline, "no GraphQL line"
                time.sleep(0.1)
            assert process.poll() is None, output.read_text()
            # and the upload folder was made at start
            assert (tmp_path / "imports").is_dir()
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_several_workers_on_sqlite_are_refused(database_url: str) -> None:
    # when serve is asked for two workers on SQLite (whose live events stay in one process)
    result = _serve(database_url, "--workers", "2")

    # then it refuses in one line, as a usage error, before serving anything
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--workers 2 needs PostgreSQL" in result.stderr
    assert "GraphiQL:" not in result.stdout


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_refused(database_url: str, port: str) -> None:
    # when serve is given a port that is not one (99999 used to wrap to 34463)
    result = _serve(database_url, "--port", port)

    # then argparse refuses it, and nothing is served or announced
    assert result.returncode == 2
    assert "is not a TCP port (0-65535)" in result.stderr
    assert "GraphiQL:" not in result.stdout


def test_a_port_that_is_taken_is_not_announced(database_url: str) -> None:
    # given a port something else listens on
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        # when serve is asked for it
        result = _serve(database_url, "--port", str(port))

    # then it fails (uvicorn's startup failure, one log line) without printing a GraphiQL
    # URL that would not be its own
    assert result.returncode == 3
    assert "address already in use" in result.stderr.lower()
    assert "GraphiQL:" not in result.stdout


def test_the_graphiql_line_names_the_bound_port(database_url: str, tmp_path: Path) -> None:
    # when serve is given port 0 (the system chooses one)
    output = tmp_path / "out.txt"
    with _serving(database_url, output) as process:
        line = _graphiql_line(output, process)

        # then the line it prints is the port bound, where the server answers
        url = re.fullmatch(r"GraphiQL: (http://127\.0\.0\.1:(\d+))/graphql", line)
        assert url and url.group(2) != "0", line
        assert _answers(url.group(1) + "/healthz", process)


def test_the_graphiql_line_comes_once_when_the_server_answers(
    database_url: str, tmp_path: Path
) -> None:
    # given a server started on port 0
    output = tmp_path / "out.txt"
    with _serving(database_url, output) as process:
        # when its GraphiQL line appears
        line = _graphiql_line(output, process)

        # then the server answers there at once: the first request, not a retry, is served
        url = line.removeprefix("GraphiQL: ").removesuffix("/graphql")
        assert httpx.get(url + "/healthz", timeout=30).status_code == 200
        process.terminate()
        process.wait(timeout=30)
    # and the line was printed once
    lines = output.read_text().splitlines()
    assert [x for x in lines if x.startswith("GraphiQL")] == [line], lines


def test_with_graphiql_off_the_line_names_the_graphql_endpoint(
    database_url: str, tmp_path: Path
) -> None:
    # given a server started with GRAPHIQL=false
    output = tmp_path / "out.txt"
    with _serving(database_url, output, graphiql=False) as process:
        # when it answers, the line it prints names the endpoint, not a GraphiQL it lacks
        line = _graphiql_line(output, process, label="GraphQL")
        url = re.fullmatch(r"GraphQL: (http://127\.0\.0\.1:\d+/graphql)", line)
        assert url, line
        # and the endpoint serves no GraphiQL page there
        page = httpx.get(url.group(1), headers={"Accept": "text/html"}, timeout=30)
        assert "graphiql" not in page.text.lower()
    assert "GraphiQL:" not in output.read_text()


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"DATABASE_URL": "mysql://app:s3cret@db/segments"}, "DATABASE_URL: must start with"),
        ({"DATABASE_URL": "segments.sqlite3"}, "DATABASE_URL: must start with"),
        ({"DATABASE_URL": "sqlite://"}, "DATABASE_URL: sqlite:// names no file"),
        ({"DATABASE_URL": "sqlite://?cache=shared"}, "DATABASE_URL: sqlite:// names no file"),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5999/"},
            "DATABASE_URL: names no database",
        ),
        (
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5999"},
            "DATABASE_URL: names no database",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5999/db?maxsize=0"},
            "DATABASE_URL: maxsize must be a whole number, at least 1",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5999/db?minsize=some"},
            "DATABASE_URL: minsize must be a whole number, at least 0",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:5999/db?minsize=9&maxsize=4"},
            "DATABASE_URL: minsize (9) is over maxsize (4)",
        ),
        (
            {"DATABASE_URL": "postgres://postgres@127.0.0.1:port/db"},
            "DATABASE_URL: the port is not a number",
        ),
        ({"MAX_PAGE_SIZE": "lots"}, "MAX_PAGE_SIZE: Input should be a valid integer"),
        (
            {"MAX_PAGE_SIZE": "99"},
            "MAX_PAGE_SIZE: Input should be greater than or equal to 100",
        ),
        (
            {"MAX_NAME_LENGTH": "201"},
            "MAX_NAME_LENGTH: Input should be less than or equal to 200",
        ),
        ({"SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS: Input should be 'auto', 'always' or"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL: must be one of DEBUG, INFO, WARNING, ERROR"),
        ({"SMTP_URL": "http://mail.example.com"}, "SMTP_URL: must look like smtp://"),
        ({"SMTP_URL": "smtp://"}, "SMTP_URL: must look like smtp://"),
        ({"EMAIL_FROM": "notanaddress"}, "EMAIL_FROM: must be an address"),
        ({"EMAIL_FROM": "Shop <shop@>"}, "EMAIL_FROM: must be an address"),
        ({"SMTP_URL": "smtp://mail.example.com:twentyfive"}, "SMTP_URL: the port is not a number"),
        ({"EMAIL_CLAIM_TIMEOUT_SECONDS": "1"}, "EMAIL_CLAIM_TIMEOUT_SECONDS must be at least"),
    ],
    ids=lambda v: str(v) if isinstance(v, dict) else "",
)
def test_invalid_settings_are_one_line_and_exit_code_2(
    database_url: str, settings: dict[str, str], says: str
) -> None:
    # when serve is started with a setting that is not valid
    result = _serve_refused(database_url, settings)

    # then it refuses as a usage error, in one line naming the setting, with no traceback
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: invalid settings: "), result.stderr
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert says in result.stderr
    # and it repeats no value (a password may be among them), and serves nothing
    assert "s3cret" not in result.stderr
    assert "GraphiQL" not in result.stdout


@contextlib.contextmanager
def _serving(
    database_url: str, output: Path, *, graphiql: bool = True
) -> Iterator[subprocess.Popen[bytes]]:
    """``segments serve --port 0`` in a subprocess writing to ``output`` (GraphiQL served
    unless ``graphiql`` is false); ended (SIGTERM, then killed if it has not ended within
    15 s) when the block is left."""
    with output.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", "0"],
            cwd=ROOT,
            env=_env(database_url, GRAPHIQL=str(graphiql).lower()),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _graphiql_line(output: Path, process: subprocess.Popen[bytes], label: str = "GraphiQL") -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in output.read_text().splitlines():
            if line.startswith(f"{label}:"):
                return line
        assert process.poll() is None, output.read_text()
        time.sleep(0.1)
    raise AssertionError(f"no {label} line: {output.read_text()}")


def _answers(url: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            return httpx.get(url, timeout=2).status_code == 200
        except httpx.TransportError:
            time.sleep(0.1)
    return False


def test_serve_help_describes_each_option_with_its_default() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    text = " ".join(result.stdout.split())
    assert "--host HOST the address to listen on (default: 127.0.0.1)" in text
    assert "0-65535; 0 lets the system choose (default: 8000)" in text
    assert "more than 1 needs PostgreSQL (default: 1)" in text


@pytest.mark.parametrize(
    ("group", "commands"), [("keys", ["create", "list", "revoke"]), ("sites", ["create", "list"])]
)
def test_every_subcommand_has_a_help_line(group: str, commands: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", group, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = result.stdout.splitlines()
    for command in commands:
        described = [line for line in lines if re.match(rf"\s+{command}\s+\S", line)]
        assert described, f"{group} {command} has no help line:\n{result.stdout}"


@pytest.mark.parametrize(
    "command",
    [["keys", "create"], ["keys", "list"], ["keys", "revoke"], ["sites", "create"]],
    ids=" ".join,
)
def test_every_option_of_a_subcommand_has_a_help_text(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", *command, "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    options = result.stdout.split("options:", 1)[1]
    # each option's line goes on with a description ("--site SITE  the site's slug ..."),
    # or the next line does when the option is long ("--role {ADMIN,WRITER,READER}")
    lines = [*options.splitlines(), ""]
    for line, after in itertools.pairwise(lines):
        if line.strip().startswith("--"):
            described = re.match(r"\s+--\S+(?: \S+)?\s{2,}\S", line) or re.match(
                r"\s{6,}[^\s-]", after
            )
            said = " ".join(command)
            assert described, f"{said}: an option without a help text:\n{result.stdout}"


def test_serve_ends_with_exit_code_0_on_sigterm(database_url: str, tmp_path: Path) -> None:
    # given a server that is up (on SQLite, one process)
    output = tmp_path / "out.txt"
    with _serving(database_url, output) as process:
        line = _graphiql_line(output, process)
        assert _answers(line.removeprefix("GraphiQL: ").replace("/graphql", "/readyz"), process)

        # when it is asked to end (SIGTERM, as a container runtime does)
        process.terminate()
        code = process.wait(timeout=30)

    # then it drains, stops its workers, closes the database and exits 0, logging no error
    assert code == 0, output.read_text()[-2000:]
    assert '"level":"ERROR"' not in output.read_text()


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("localhost", "http://localhost:8000"),
        ("::1", "http://[::1]:8000"),
        ("::", "http://[::]:8000"),
    ],
)
def test_the_graphiql_line_brackets_an_ipv6_host(host: str, url: str) -> None:
    # an IPv6 address in a URL is bracketed, or the port reads as part of the address
    assert cli._base_url(host, 8000) == url
