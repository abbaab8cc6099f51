"""The CLI and the database it is given: one that cannot be reached is one line on stderr,
not a traceback."""

from __future__ import annotations

import pytest

from tests.processes import free_port
from tests.test_cli import _cli


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
