"""Exports: every effective member of a segment, a batch at a time, so that a segment of any
size streams out in constant memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from app.companies import service as companies
from app.memberships import service as memberships

# a few thousand rows a read: memory stays bounded, and each read is one keyset page
BATCH = 10_000
COLUMNS = ("id", "email", "name", "company_id", "source", "attributes")


async def member_rows(
    *, site_id: int, segment_pk: int, batch: int | None = None
) -> AsyncIterator[list[tuple[Any, ...]]]:
    """Batches of (id, email, name, company id, source, attributes as JSON) in member order.

    Each batch is its own read: a member added or removed while the export runs may or may
    not be in it, but no member is written twice.
    """
    batch = batch or BATCH
    after: int | None = None
    while True:
        rows = await memberships.list_members(
            site_id=site_id, segment_pk=segment_pk, search=None, first=batch, after=after
        )
        page = rows[:batch]
        if not page:
            return
        company_pks = sorted({r["company_id"] for r in page if r["company_id"] is not None})
        found = await companies.by_pks(site_id=site_id, pks=company_pks) if company_pks else {}
        external = {pk: c.external_id for pk, c in found.items() if c is not None}
        yield [
            (
                r["external_id"],
                r["email"],
                r["name"],
                external.get(r["company_id"]) if r["company_id"] is not None else None,
                r["source"],
                orjson.dumps(r["attributes"] or {}).decode(),
            )
            for r in page
        ]
        if len(rows) <= batch:
            return
        after = int(page[-1]["id"])
