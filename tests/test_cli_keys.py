"""`segments keys revoke`: an unknown key is named as it was typed, with the forms accepted;
the prefix is taken as `keys list` shows it (the ellipsis included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_cli import _cli


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite://{tmp_path}/cli.sqlite3"


def _listed(database_url: str) -> list[list[str]]:
    out = _cli(database_url, "keys", "list", "--site", "shop").stdout
    return [line.split("\t") for line in out.splitlines()]


def test_an_unknown_key_is_named_as_typed_with_the_forms_accepted(database_url: str) -> None:
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0
    made = _cli(database_url, "keys", "create", "--site", "shop", "--role", "READER", "--name", "k")
    assert made.returncode == 0, made.stderr

    # when a key that is neither an id nor a prefix is revoked
    result = _cli(database_url, "keys", "revoke", "--site", "shop", "zzz")

    # then the error names what was typed and says what is accepted
    assert result.returncode == 1
    assert "'zzz'" in result.stderr and "'0'" not in result.stderr
    assert "id" in result.stderr and "prefix" in result.stderr
    assert "keys list" in result.stderr
    # and nothing was revoked
    assert [row[4] for row in _listed(database_url)] == ["active"]


def test_a_key_is_revoked_by_its_prefix_as_listed(database_url: str) -> None:
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0
    made = _cli(database_url, "keys", "create", "--site", "shop", "--role", "READER", "--name", "k")
    assert made.returncode == 0, made.stderr
    [row] = _listed(database_url)

    # when it is revoked by the prefix copied from `keys list`, ellipsis and all
    result = _cli(database_url, "keys", "revoke", "--site", "shop", row[1])

    # then it is revoked
    assert result.returncode == 0, result.stderr
    [revoked] = _listed(database_url)
    assert revoked[4].startswith("revoked")


def test_a_key_is_revoked_by_its_whole_secret(database_url: str) -> None:
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0
    create = ("keys", "create", "--site", "shop", "--role", "READER", "--name")
    made, other = _cli(database_url, *create, "k"), _cli(database_url, *create, "o")
    assert made.returncode == other.returncode == 0, made.stderr + other.stderr
    secret = made.stdout.strip()

    # when it is revoked by the secret `keys create` printed (what an operator holding a
    # leaked key has at hand), longer than any prefix
    result = _cli(database_url, "keys", "revoke", "--site", "shop", secret)

    # then that key is revoked, in one line, and no other
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("revoked key 'k'")
    assert [(row[3], row[4][:7]) for row in _listed(database_url)] == [
        ("k", "revoked"),
        ("o", "active"),
    ]


@pytest.mark.parametrize(
    "typed", ["9" * 24, "seg_" + "x" * 43], ids=["a long number", "an unknown secret"]
)
def test_a_long_unknown_key_is_one_line(database_url: str, typed: str) -> None:
    assert _cli(database_url, "migrate").returncode == 0
    assert _cli(database_url, "sites", "create", "shop").returncode == 0

    # when a key longer than any prefix, of no key, is revoked
    result = _cli(database_url, "keys", "revoke", "--site", "shop", typed)

    # then it is not found, said in one line (not a traceback of the prefix column's length)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: API key {typed!r} not found on site shop")
    assert result.stderr.count("\n") == 1, result.stderr
