"""Exports: every effective member of a segment, a batch at a time, so that a segment of any
size streams out in constant memory."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import any_of, conn, fetch, ids_param, is_postgres, sql, ts
from app.exports.cells import LEADING, formula_safe
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


def _csv_field(column: str) -> str:
    """SQL of a text column written as a CSV field as _csv_text writes it: nothing for NULL,
    quoted (quotes doubled) when it holds a quote, a comma, a semicolon, a tab or a line
    break, else as is."""
    return (
        f"CASE WHEN {column} IS NULL THEN ''"
        f" WHEN strpos({column}, '\"') + strpos({column}, ',') + strpos({column}, chr(10))"
        f" + strpos({column}, chr(13)) + strpos({column}, ';') + strpos({column}, chr(9)) > 0"
        f" THEN '\"' || replace({column}, '\"', '\"\"') || '\"' ELSE {column} END"
    )


# The columns the database writes as the start of a CSV line, and SQL true when one of them
# starts with a character for which formula_safe may add its quote (NULL, or false, when
# none does; compared as code points, cheaper than a substring): those rare rows come with
# the columns themselves, written here.
_LINE_START = ("m.external_id", "m.email", "m.name")
_RISKY = " OR ".join(
    f"ascii({c}) IN ({', '.join(str(ord(ch)) for ch in sorted(LEADING))})" for c in _LINE_START
)

# The same page on PostgreSQL with the first three columns already written as the start of a
# CSV line by the database (one text per row, decoded without a field loop); the company's
# external id is looked up here, once per company (a join would cost a sort per page), and
# the attributes come as jsonb text, made compact here.
_LISTED_LINES = (
    "SELECT e.member_id, "
    + " || ',' || ".join(_csv_field(c) for c in _LINE_START)
    + " || ',', m.company_id, e.source, m.attributes::text,"
    + f" CASE WHEN {_RISKY} THEN ARRAY[{', '.join(_LINE_START)}] END"
    f" FROM ({memberships._PAGE}) e JOIN members m ON m.id = e.member_id AND m.id > $4"
    " ORDER BY e.member_id LIMIT $5"
)

# the limit of the one statement of an export: every row
_EVERY = 2**62

# rows a read: memory stays bounded (a page of rows, then its CSV text), and each read is
# one keyset page; larger pages mean fewer round trips and fewer, larger chunks sent
BATCH = 20000
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


def _json_fields(texts: list[str | None]) -> list[str]:
    """The attributes of a page of members (jsonb text, or NULL) as CSV fields of compact JSON:
    ``{}``, or the JSON quoted with its quotes doubled.

    jsonb writes ``", "`` and ``": "`` between items and escapes quotes inside strings with
    a backslash; a page holding no backslash has its strings between plain quotes, so the
    page is compacted at once: joined by newlines (which jsonb never writes raw), its
    separators' spaces dropped and its quotes doubled by replaces over the whole page. A
    quote inside a string has a backslash, so every ``", "`` followed by a quote and every
    ``": "`` after one is a separator; when those are all of them (counted), the page is
    replaced whole; else it is split on quotes, the even parts being outside strings. A
    page with a backslash goes row by row through orjson."""
    joined = "\n".join(t or "{}" for t in texts)
    if "\\" in joined:
        dumps, loads = orjson.dumps, orjson.loads
        return [
            "{}" if not t or t == "{}" else '"' + dumps(loads(t)).decode().replace('"', '""') + '"'
            for t in texts
        ]
    if joined.count(", ") == joined.count(', "') and joined.count(": ") == joined.count('": '):
        # every ", " is before a string and every ": " after a key: jsonb's separators
        joined = joined.replace(", ", ",").replace(": ", ":").replace('"', '""')
    else:  # a string holds ", " or ": ", or an array a number: compact outside strings
        parts = joined.split('"')
        parts[::2] = [p.replace(", ", ",").replace(": ", ":") for p in parts[::2]]
        joined = '""'.join(parts)
    return [f if f == "{}" else '"' + f + '"' for f in joined.split("\n")]


def _csv_text(value: str | None) -> str:
    """A text as a CSV field: as Python's csv module writes it (QUOTE_MINIMAL), except that a
    carriage return is quoted too (the module leaves it bare when lines end with a newline,
    which readers take for the end of a line), and so are a semicolon and a tab: a
    spreadsheet may split cells on them (OWASP: a cell started there could be a formula)."""
    if value is None:
        return ""
    if (
        '"' in value
        or "," in value
        or "\n" in value
        or "\r" in value
        or ";" in value
        or "\t" in value
    ):
        return '"' + value.replace('"', '""') + '"'
    return value


def _line_start(values: list[str | None]) -> str:
    """The start of a CSV line the database did not write: these cells, formula-safe, each
    with its comma."""
    return "".join([_csv_text(formula_safe(v)) + "," for v in values])


async def _listed_csv(site_id: int, segment_pk: int, batch: int) -> AsyncIterator[str]:
    """The CSV lines of a listed segment on PostgreSQL, a page of rows at a time: one
    statement read through a cursor (one plan and one snapshot for the whole export, no
    re-planning nor re-sorting per page), the next page fetched while this one is written
    out. Memory holds two pages; the connection is held until the last page."""
    client = conn()
    now = ts(datetime.now(UTC), client)
    fields: dict[int | None, str] = {None: ""}  # a company's CSV field by its row id
    async with client.acquire_connection() as connection, connection.transaction():
        cursor = await connection.cursor(_LISTED_LINES, site_id, now, segment_pk, 0, _EVERY)
        pending: asyncio.Task[list[Any]] | None = asyncio.create_task(cursor.fetch(batch))
        try:
            while pending is not None:
                page = await pending
                pending = None
                if not page:
                    return
                missing = sorted({r[2] for r in page if r[2] not in fields})
                if missing:  # on the same connection, before the next page is asked for
                    known = dict(
                        await connection.fetch(
                            "SELECT id, external_id FROM companies"
                            " WHERE site_id = $1 AND id = ANY($2::bigint[])",
                            site_id,
                            missing,
                        )
                    )
                    fields.update(
                        (pk, _csv_text(formula_safe(known.get(pk, "")))) for pk in missing
                    )
                if len(page) == batch:
                    pending = asyncio.create_task(cursor.fetch(batch))
                json = _json_fields([r[4] for r in page])
                # the source is one of its enum's names and the attributes a JSON object
                # (``{``): neither can start with a formula character
                yield "".join(
                    [
                        f"{r[1] if r[5] is None else _line_start(r[5])}{fields[r[2]]},{r[3]},{j}\n"
                        for r, j in zip(page, json, strict=True)
                    ]
                )
        finally:
            if pending is not None:  # the client went away: stop the read ahead
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)


async def csv_chunks(
    *, site_id: int, segment_pk: int, batch: int | None = None
) -> AsyncIterator[bytes]:
    """The export as CSV (the header, then a chunk per page of members): on PostgreSQL a
    listed segment's lines are mostly written by the database; otherwise the rows of
    member_rows go through Python's csv module. Both write the same text (_csv_text's), every
    cell formula-safe (a spreadsheet reads it as text: app/exports/cells.py)."""
    batch = batch or BATCH
    yield (",".join(COLUMNS) + "\n").encode()
    segment = (await catalogue.get(site_id)).by_pk.get(segment_pk)
    if is_postgres() and segment is not None and not segment.dynamic:
        async for text in _listed_csv(site_id, segment_pk, batch):
            yield text.encode()
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    safe = formula_safe
    async for page in member_rows(site_id=site_id, segment_pk=segment_pk, batch=batch):
        rows = [tuple(map(safe, row)) for row in page]
        writer.writerows(rows)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        if "\r" in text or ";" in text or "\t" in text:
            # rare: a field the csv module leaves bare that must be quoted (_csv_text)
            text = "".join(",".join(_csv_text(v) for v in row) + "\n" for row in rows)
        yield text.encode()


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
