"""Migration 0015 (the compact record): the rows written before it become rows of one change
each under the same id, so every kept cursor still means what it meant; the member's index
goes. Run on a database of its own, migrated in a
process of its own up to 0014, given rows of the old shape, then migrated to the newest."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.changes.index import member_rows
from app.db import asyncpg_dsn, create_postgres_database, normalize_url
from app.memberships.kept import change_id, expanded
from tests.conftest import TEST_DATABASE_URL
from tests.processes import ROOT

MIGRATE = """
import asyncio, sys
from tortoise import Tortoise
from tortoise.migrations.api import migrate
from app.db import tortoise_config
async def main(url, target):
    await migrate(config=tortoise_config(url), target=target or None)
    await Tortoise.close_connections()
asyncio.run(main(sys.argv[1], sys.argv[2]))
"""

OLD_ROWS = [  # id, site, segment, member id, member ref, kind, cause
    (1, 1, 7, 11, "a", "ENTERED", "LISTED"),
    (2, 1, 7, 12, "b", "ENTERED", "LISTED"),
    (5, 1, 8, 11, "a", "EXITED", "RULE_CHANGED"),
]
INSERT = (
    "INSERT INTO membership_changes (id, site_id, segment_id, member_id, member_ref, kind,"
    " cause, at) VALUES ($1, $2, $3, $4, $5, $6, $7, '2026-01-02 03:04:05+00')"
)


async def _migrate(url: str, target: str = "") -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", MIGRATE, url, target, cwd=ROOT, stderr=subprocess.PIPE
    )
    _, err = await process.communicate()
    assert process.returncode == 0, err.decode()


class _Db:
    """The raw driver on the migrated database (Tortoise stays on the session's)."""

    def __init__(self, url: str) -> None:
        self.url, self.pg = url, url.startswith(("postgres://", "postgresql://"))
        self.conn: Any = None

    async def open(self) -> None:
        if self.pg:
            import asyncpg

            self.conn = await asyncpg.connect(asyncpg_dsn(self.url))
        else:
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite://"))

    async def run(self, text: str, *args: Any) -> None:
        if self.pg:
            await self.conn.execute(text, *args)
        else:
            self.conn.execute(text.replace("$", "?"), args)
            self.conn.commit()

    async def rows(self, text: str) -> list[tuple[Any, ...]]:
        if self.pg:
            return [tuple(r) for r in await self.conn.fetch(text)]
        return list(self.conn.execute(text))

    async def close(self) -> None:
        await self.conn.close() if self.pg else self.conn.close()


@pytest.fixture
async def fresh() -> AsyncIterator[str]:
    """The URL of an empty database of this test's own."""
    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://")):
        url = normalize_url(TEST_DATABASE_URL).split("?", 1)[0] + "_migration"
        await create_postgres_database(url)
        yield url
        import asyncpg

        base, _, name = asyncpg_dsn(url, keep_options=False).rpartition("/")
        admin = await asyncpg.connect(base + "/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite://{Path(tmp) / 'migration.sqlite3'}"


async def test_rows_recorded_before_the_compact_record_keep_their_ids(fresh: str) -> None:
    await _migrate(fresh, "models.0014_record_member_hash")
    db = _Db(fresh)
    await db.open()
    try:
        for row in OLD_ROWS:
            await db.run(INSERT, *row)
        await db.close()
        await _migrate(fresh)
        await db.open()
        # each old row is a row of one change, read under the id it had
        read = await db.rows(
            f"SELECT {change_id(db.pg)}, c.segment_id, u.value, c.kind, c.cause, c.size"
            f" FROM {expanded(db.pg, 'membership_changes')} WHERE c.site_id = 1"
            " ORDER BY c.id, u.key"
        )
        assert read == [(i, s, ref, k, c, 1) for i, _, s, _, ref, k, c in OLD_ROWS]
        ids = await db.rows("SELECT member_ids FROM membership_changes ORDER BY id")
        got = [list(r[0]) if db.pg else json.loads(r[0]) for r in ids]
        assert got == [[m] for _, _, _, m, _, _, _ in OLD_ROWS]
        if db.pg:
            indexes = await db.rows(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'membership_changes' ORDER BY indexname"
            )
            assert [d for _, d in indexes if "member_ref" in d] == []
            assert not [n for n, _ in indexes if n == "idx_membership__site_id_50bb3f"]
            # and the arrays are compressed with lz4 (pglz cost a write ten times as much)
            methods = await db.rows(
                "SELECT attname, attcompression::text FROM pg_attribute WHERE attrelid ="
                " 'membership_changes'::regclass AND attname LIKE 'member_%' ORDER BY attname"
            )
            assert [(n, str(c)) for n, c in methods] == [("member_ids", "l"), ("member_refs", "l")]
            # and the next row's ids come above every old one
            top = await db.rows("SELECT nextval('membership_changes_id_seq') << 12")
            assert top[0][0] > max(r[0] for r in OLD_ROWS)
    finally:
        await db.close()


COMPACT = (
    "INSERT INTO membership_changes (id, site_id, segment_id, kind, cause, at, size,"
    " member_ids, member_refs) VALUES ($1, 1, 7, 'ENTERED', 'LISTED', '2026-01-02 03:04:05+00',"
    " $2, $3, $4)"
)


async def test_the_member_index_starts_empty_and_the_rows_before_it_are_still_read(
    fresh: str,
) -> None:
    # given a database at 0016 with rows of the compact record
    await _migrate(fresh, "models.0016_webhook_draining")
    db = _Db(fresh)
    await db.open()
    try:
        rows = [(4097, 2, [11, 12], ["a", "b"]), (8193, 1, [11], ["a"])]
        for row_id, size, ids, refs in rows:
            if db.pg:
                await db.run(COMPACT, row_id, size, ids, refs)
            else:
                await db.run(COMPACT, row_id, size, json.dumps(ids), json.dumps(refs))
        await db.close()
        # when migrated to the newest
        await _migrate(fresh)
        await db.open()
        # then the index is empty, no site has a watermark, and a member's rows are all read
        # (after the watermark: every row)
        assert await db.rows("SELECT COUNT(*) FROM membership_member_rows") == [(0,)]
        assert await db.rows("SELECT COUNT(*) FROM membership_index_marks") == [(0,)]
        rows_of_a = member_rows(db.pg, "1", "'a'")
        read = await db.rows(
            f"SELECT {change_id(db.pg)}, u.value FROM {expanded(db.pg, rows_of_a)}"
            " WHERE c.site_id = 1 AND u.value = 'a' ORDER BY c.id, u.key"
        )
        assert read == [(4096, "a"), (8193, "a")]
        if db.pg:
            # and the readers' index is a B-tree of the site's members, the pruning's a BRIN
            indexes = await db.rows(
                "SELECT indexdef FROM pg_indexes WHERE tablename = 'membership_member_rows'"
                " ORDER BY indexname"
            )
            assert [d.split(" USING ")[1] for (d,) in indexes] == [
                "btree (site_id, member_ref)",
                "brin (row_id)",
            ]
    finally:
        await db.close()


async def test_the_kept_matches_keep_their_rows_keyed_by_segment_and_member(fresh: str) -> None:
    # given a database at 0018 with kept matches of the surrogate-keyed table
    await _migrate(fresh, "models.0018_prune_marks")
    db = _Db(fresh)
    await db.open()
    try:
        matches = [(1, 7, 12), (1, 7, 11), (1, 8, 11), (2, 9, 30)]
        for row in matches:
            await db.run(
                "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
                " VALUES ($1, $2, $3)",
                *row,
            )
        await db.close()
        # when migrated to the newest
        await _migrate(fresh)
        await db.open()
        # then every match is there, with no id, keyed by (segment_id, member_id)
        read = await db.rows(
            "SELECT site_id, segment_id, member_id FROM segment_rule_matches"
            " ORDER BY segment_id, member_id"
        )
        assert read == sorted(matches, key=lambda r: (r[1], r[2]))
        with pytest.raises(Exception, match=r"UNIQUE|unique|duplicate"):
            await db.run(
                "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
                " VALUES (1, 7, 11)"
            )
        if db.pg:
            await db.close()
            await db.open()
            columns = await db.rows(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'segment_rule_matches' ORDER BY ordinal_position"
            )
            assert columns == [("site_id",), ("segment_id",), ("member_id",)]
            indexes = await db.rows(
                "SELECT indexname, indexdef FROM pg_indexes"
                " WHERE tablename = 'segment_rule_matches' ORDER BY indexname"
            )
            assert [(n, d.split(" USING ")[1]) for n, d in indexes] == [
                ("segment_rule_matches_member", "btree (member_id, segment_id)"),
                ("segment_rule_matches_pkey", "btree (segment_id, member_id)"),
            ]
        else:
            columns = await db.rows(
                "SELECT name, pk FROM pragma_table_info('segment_rule_matches')"
            )
            assert columns == [("site_id", 0), ("segment_id", 1), ("member_id", 2)]
    finally:
        await db.close()
