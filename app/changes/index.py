"""The record's member index: which record rows hold a member's changes, written in the
background.

A write records its changes as rows of up to 4,096 members (app.memberships.kept) and no
index finds a member's rows (one written with each row cost the write what the rows did:
migration 0015). The sweeper indexes them afterwards instead: ``index_site`` reads a site's
rows past its watermark (``membership_index_marks.indexed_to``) in id order and writes an
entry (site_id, member_ref, row_id) per change into ``membership_member_rows``, then moves
the watermark, in one transaction per batch of about ``INDEX_BATCH_CHANGES`` changes.

The readers (``member_rows``) take the rows the index names up to the watermark and every row
of the site after it (read in the rows, as before): the answers never depend on how far the
index has got, only their cost does. A site's rows are committed in id order (their ids are
handed out under its membership lock), so a row committed after a batch was read has an id
above the watermark it sets: none is ever left behind it.

Several processes may index: a batch moves the watermark only from where it read it (a
compare-and-set; a batch that lost the race rolls back, entries and all), and on PostgreSQL a
site another process is indexing is skipped (a transaction-scoped advisory lock). Pruning
deletes a row's entries with the row (app.changes.sweeper.prune).
"""

from __future__ import annotations

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import execute, fetch, is_postgres
from app.memberships.kept import expanded

INDEX_BATCH_CHANGES = 100_000
# the advisory lock's first key (the second is the site's id): "members" of the record
_LOCK_CLASS = 0x5EC1


class _Lost(Exception):
    """Another indexer moved the watermark first: this batch rolls back."""


async def mark(site_id: int) -> int:
    """The site's watermark: its rows up to this id are indexed (0: none)."""
    rows = await fetch(
        "SELECT indexed_to FROM membership_index_marks WHERE site_id = $1", [site_id]
    )
    return int(rows[0]["indexed_to"]) if rows else 0


async def index_batch(site_id: int, *, changes: int = INDEX_BATCH_CHANGES) -> int | None:
    """Index the site's next rows past its watermark, about ``changes`` changes of them (at
    least one row), in one transaction; how many changes it indexed (0: none was left),
    None when another indexer holds the site."""
    pg = is_postgres()
    try:
        async with in_transaction() as tx:
            if pg:
                got = await fetch(
                    # (two int4 keys: a space of its own; a site id past 2^31 may share
                    # a key with another site, which then only waits its turn)
                    "SELECT pg_try_advisory_xact_lock($1, ($2::bigint % 2147483647)::int) AS ok",
                    [_LOCK_CLASS, site_id],
                    tx,
                )
                if not got[0]["ok"]:
                    return None
            await execute(
                "INSERT INTO membership_index_marks (site_id, indexed_to) VALUES ($1, 0)"
                " ON CONFLICT (site_id) DO NOTHING",
                [site_id],
                tx,
            )
            rows = await fetch(
                "SELECT indexed_to FROM membership_index_marks WHERE site_id = $1", [site_id], tx
            )
            start = int(rows[0]["indexed_to"])
            # the rows of the batch: in id order, while their changes come to ``changes``
            ends = await fetch(
                "SELECT MAX(id) AS upto, SUM(size) AS n FROM (SELECT id, size,"
                " SUM(size) OVER (ORDER BY id) - size AS before FROM (SELECT id, size"
                " FROM membership_changes WHERE site_id = $1 AND id > $2 ORDER BY id"
                " LIMIT $3) r) b WHERE before < $4",
                [site_id, start, max(1, changes), changes],
                tx,
            )
            if ends[0]["upto"] is None:
                return 0
            upto, count = int(ends[0]["upto"]), int(ends[0]["n"])
            await execute(
                "INSERT INTO membership_member_rows (row_id, site_id, member_ref)"
                f" SELECT c.id, c.site_id, u.value FROM {expanded(pg, 'membership_changes')}"
                " WHERE c.site_id = $1 AND c.id > $2 AND c.id <= $3",
                [site_id, start, upto],
                tx,
            )
            moved = await execute(
                "UPDATE membership_index_marks SET indexed_to = $3"
                " WHERE site_id = $1 AND indexed_to = $2",
                [site_id, start, upto],
                tx,
            )
            if not moved:
                raise _Lost
    except _Lost:
        return None
    return count


async def index_site(site_id: int, *, changes: int = INDEX_BATCH_CHANGES) -> int:
    """Index the site's rows past its watermark up to its newest, batch after batch; how many
    changes were indexed (stops early when another indexer holds the site)."""
    done = 0
    while True:
        n = await index_batch(site_id, changes=changes)
        if not n:
            return done
        done += n


def member_rows(pg: bool, site: str, ref: str, *, after: str | None = None) -> str:
    """SQL (a subquery to read as the record's rows): the site's rows that may hold a change
    of the member with external id ``ref`` (bound parameters ``site`` and ``ref``): those
    the index names up to the site's watermark, and every row after it (not indexed yet).
    ``after``: only rows past that id. The caller still tests each row for the member
    (``kept.has_member``) and its site."""
    mark = (
        f"COALESCE((SELECT m.indexed_to FROM membership_index_marks m WHERE m.site_id = {site}), 0)"
    )
    past = "" if after is None else f" AND i.row_id > {after}"
    tail_past = "" if after is None else f" AND t.id > {after}"
    indexed = (
        f"SELECT i.row_id FROM membership_member_rows i WHERE i.site_id = {site}"
        f" AND i.member_ref = {ref} AND i.row_id <= {mark}{past}"
    )
    # PostgreSQL: the row ids first (an array, once), then those rows alone, and only then
    # the caller's tests of their members (OFFSET 0: not pushed into this subquery). Left to
    # itself the planner reads a small record's every row, testing its members first: reading
    # a row's members costs what its plan does not count (decompressing them)
    found = f"x.id = ANY(ARRAY({indexed}))" if pg else f"x.id IN ({indexed})"
    return (
        f"(SELECT x.* FROM membership_changes x WHERE {found}"
        " UNION ALL SELECT t.* FROM membership_changes t"
        f" WHERE t.site_id = {site} AND t.id > {mark}{tail_past}{' OFFSET 0' if pg else ''})"
    )


async def prune_rows(site_id: int, row_ids: list[int], tx: BaseDBAsyncClient) -> None:
    """In the pruning's transaction: the entries of the rows it deletes."""
    if not row_ids:
        return
    marks = ", ".join(str(int(i)) for i in row_ids)
    await execute(
        "DELETE FROM membership_member_rows WHERE site_id = $1 AND row_id >= $2"
        f" AND row_id <= $3 AND row_id IN ({marks})",
        [site_id, min(row_ids), max(row_ids)],
        tx,
    )
