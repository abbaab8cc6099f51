"""Exports: every effective member of a segment, a batch at a time, so that a segment of any
size streams out in constant memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import any_of, conn, fetch, ids_param, sql, ts
from app.memberships import catalogue
from app.memberships import service as memberships

# A listed segment's page: the effective members after a cursor as the memberships domain
# pages them (its statement, reused as is: $1 site, $2 now, $3 segment, $4 cursor, $5 rows),
# joined to exactly the columns of the CSV, read as plain records (no dict per row).
_LISTED_ROWS = (
    "SELECT m.id, m.external_id, m.email, m.name, c.external_id, e.source, m.attributes"
    f" FROM ({memberships._PAGE}) e JOIN members m ON m.id = e.member_id"
    " LEFT JOIN companies c ON c.id = m.company_id AND c.site_id = $1"
    " ORDER BY e.member_id LIMIT $5"
)

# rows a read: memory stays bounded (a page of rows, then its CSV text), and each read is
# one keyset page; larger pages mean fewer round trips and fewer, larger chunks sent
BATCH = 20_000
COLUMNS = ("id", "email", "name", "company_id", "source", "attributes")
_EMPTY = b"{}"


async def _company_ids(site_id: int, pks: list[int], known: dict[int, str]) -> None:
    """Add the external ids of these companies (row ids) to known: one raw read of two
    columns, for the companies not seen on an earlier page."""
    missing = [pk for pk in pks if pk not in known]
    if not missing:
        return
    rows = await fetch(
        "SELECT id, external_id FROM companies WHERE site_id = $1 AND "
        + any_of("id", "$2", pg_type="bigint"),
        [site_id, ids_param(missing)],
    )
    known.update((int(r["id"]), r["external_id"]) for r in rows)


def _compact(attributes: Any) -> str:
    """A member's attributes as compact JSON text, whatever the driver gave (PostgreSQL's
    jsonb text has spaces; SQLite holds the compact text already)."""
    if attributes is None or attributes in ("{}", {}):
        return "{}"
    if isinstance(attributes, str | bytes):
        attributes = orjson.loads(attributes)
    return orjson.dumps(attributes).decode()


async def _listed_rows(
    site_id: int, segment_pk: int, batch: int
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """member_rows of a listed (not DYNAMIC) segment: one statement a page, plain records."""
    client = conn()
    text = sql(_LISTED_ROWS, client)
    now = ts(datetime.now(UTC), client)
    after = 0

    async def read(after: int) -> Sequence[Any]:
        _, rows = await client.execute_query(text, [site_id, now, segment_pk, after, batch + 1])
        return rows

    pending: asyncio.Task[Sequence[Any]] | None = asyncio.create_task(read(after))
    try:
        while pending is not None:
            rows = await pending
            page = rows[:batch]
            pending = asyncio.create_task(read(int(page[-1][0]))) if len(rows) > batch else None
            if not page:
                return
            yield [(r[1], r[2], r[3], r[4], r[5], _compact(r[6])) for r in page]
    finally:
        if pending is not None:  # the client went away: stop the read ahead
            pending.cancel()


async def member_rows(
    *, site_id: int, segment_pk: int, batch: int | None = None
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Batches of (id, email, name, company id, source, attributes as JSON) in member order.

    Each batch is its own read: a member added or removed while the export runs may or may
    not be in it, but no member is written twice. The next page is read while this one is
    turned into rows (two pages in memory at most), and the companies' external ids are
    kept across batches (bounded by the site's companies, not by the segment's members).
    """
    batch = batch or BATCH
    segment = (await catalogue.get(site_id)).by_pk.get(segment_pk)
    if segment is None or not segment.dynamic:
        async for listed in _listed_rows(site_id, segment_pk, batch):
            yield listed
        return

    def read(after: int | None) -> asyncio.Task[list[dict[str, Any]]]:
        return asyncio.create_task(
            memberships.list_members(
                site_id=site_id, segment_pk=segment_pk, search=None, first=batch, after=after
            )
        )

    companies: dict[int, str] = {}
    dumps = orjson.dumps
    pending: asyncio.Task[list[dict[str, Any]]] | None = read(None)
    try:
        while pending is not None:
            rows = await pending
            page = rows[:batch]
            pending = read(int(page[-1]["id"])) if len(rows) > batch else None
            if not page:
                return
            pks = sorted({r["company_id"] for r in page if r["company_id"] is not None})
            await _company_ids(site_id, pks, companies)
            get = companies.get
            yield [
                (
                    r["external_id"],
                    r["email"],
                    r["name"],
                    None if r["company_id"] is None else get(r["company_id"]),
                    r["source"],
                    (dumps(r["attributes"]) if r["attributes"] else _EMPTY).decode(),
                )
                for r in page
            ]
    finally:
        if pending is not None:  # the client went away: stop the read ahead
            pending.cancel()
