"""Exports: every effective member of a segment, a batch at a time, so that a segment of any
size streams out in constant memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.db import any_of, fetch, ids_param
from app.memberships import service as memberships

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
