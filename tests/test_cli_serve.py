"""`segments serve`'s options: what it refuses before starting, and the GraphiQL line it
prints once the port is bound."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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


def test_several_workers_on_sqlite_are_refused(database_url: str) -> None:
    # when serve is asked for two workers on SQLite (whose live events stay in one process)
    result = _serve(database_url, "--workers", "2")

    # then it refuses in one line, as a usage error, before serving anything
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "--workers 2 needs PostgreSQL" in result.stderr
    assert "GraphiQL" not in result.stdout
