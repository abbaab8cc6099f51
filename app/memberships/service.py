"""Reading membership: the effective members of segments, listed companies, exclusions.

Effective membership of a segment = listed members whose listing has not expired
+ members of listed companies (+ rule matches, DYNAMIC only) - excluded members. Every
reader uses these queries, so listings, counts and lookups cannot drift apart: static
segments read the union of their lists below; DYNAMIC ones scan the site's members with
the condition of effective.py.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import fetch, is_postgres, json_value, like_pattern, ts, unicode_lower
from app.listing import RowListing
from app.memberships import catalogue
from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.status import SegmentStatus

_EFFECTIVE = """
  SELECT sm.segment_id, sm.member_id, sm.source, sm.added_at, sm.expires_at
    FROM segment_members sm
   WHERE sm.site_id = $1 AND sm.segment_id IN ({segments})
     AND (sm.expires_at IS NULL OR sm.expires_at > $2)
  UNION ALL
  SELECT sc.segment_id, m.id, 'COMPANY', sc.added_at, NULL
    FROM segment_companies sc JOIN members m ON m.company_id = sc.company_id
   WHERE sc.site_id = $1 AND sc.segment_id IN ({segments}) AND m.site_id = $1
     AND NOT EXISTS (SELECT 1 FROM segment_members l
                      WHERE l.segment_id = sc.segment_id AND l.member_id = m.id
                        AND (l.expires_at IS NULL OR l.expires_at > $2))
"""

# One page of a listed segment's effective members after a cursor ($4), at most $5 of each
# kind: each arm walks its index from the cursor and stops, so paging through the whole
# segment (an export) costs each row once, not once per page.
_PAGE = """
  SELECT * FROM (
    SELECT sm.member_id, sm.source, sm.added_at, sm.expires_at FROM segment_members sm
     WHERE sm.site_id = $1 AND sm.segment_id = $3 AND sm.member_id > $4
       AND (sm.expires_at IS NULL OR sm.expires_at > $2)
       AND NOT EXISTS (SELECT 1 FROM segment_exclusions x
                        WHERE x.segment_id = $3 AND x.member_id = sm.member_id)
     ORDER BY sm.member_id LIMIT $5) listed
  UNION ALL
  SELECT * FROM (
    SELECT m.id AS member_id, 'COMPANY' AS source, sc.added_at,
           CAST(NULL AS timestamptz) AS expires_at
      FROM segment_companies sc JOIN members m ON m.company_id = sc.company_id
     WHERE sc.site_id = $1 AND sc.segment_id = $3 AND m.site_id = $1 AND m.id > $4
       AND NOT EXISTS (SELECT 1 FROM segment_members l
                        WHERE l.segment_id = $3 AND l.member_id = m.id
                          AND (l.expires_at IS NULL OR l.expires_at > $2))
       AND NOT EXISTS (SELECT 1 FROM segment_exclusions x
                        WHERE x.segment_id = $3 AND x.member_id = m.id)
     ORDER BY m.id LIMIT $5) via_company
"""

# The kept rule matches of a DYNAMIC segment after the cursor, not listed nor via a listed
# company (those come from the arms of _PAGE) nor excluded: with _PAGE, a page of a DYNAMIC
# segment is a keyset walk of three indexes from the cursor. The checks are probes per match,
# stopped by the LIMIT: OFFSET 0 keeps PostgreSQL from making them anti-joins (which it would
# merge against every listing of the site), and keeps its estimate of the arm small (a
# subquery that is NULL is guessed so rare that the plan's cost wakes the JIT compiler).
_RULE_ARM = """
  UNION ALL
  SELECT * FROM (
    SELECT r.member_id, 'RULE' AS source, CAST(NULL AS timestamptz) AS added_at,
           CAST(NULL AS timestamptz) AS expires_at
      FROM segment_rule_matches r
     WHERE r.segment_id = $3 AND r.member_id > $4
       AND NOT EXISTS (SELECT 1 FROM segment_members l
             WHERE l.segment_id = $3 AND l.member_id = r.member_id
               AND (l.expires_at IS NULL OR l.expires_at > $2) OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM members rm JOIN segment_companies sc
                ON sc.company_id = rm.company_id AND sc.segment_id = $3
             WHERE rm.id = r.member_id OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM segment_exclusions x
             WHERE x.segment_id = $3 AND x.member_id = r.member_id OFFSET 0)
     ORDER BY r.member_id LIMIT $5) by_rule
"""

_NOT_EXCLUDED = """NOT EXISTS (SELECT 1 FROM segment_exclusions x
                    WHERE x.segment_id = e.segment_id AND x.member_id = e.member_id)"""


def _marks(values: Sequence[Any], start: int) -> str:
    return ", ".join(f"${start + i}" for i in range(len(values)))


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    row["attributes"] = json_value(row.get("attributes"))
    return row


async def _dynamic(
    site_id: int, segment_pk: int, connection: BaseDBAsyncClient | None = None
) -> tuple[Catalogue, SegmentDef | None]:
    """The site's catalogue, and the segment when its rule makes members."""
    cat = await catalogue.get(site_id, connection=connection)
    segment = cat.by_pk.get(segment_pk)
    return cat, segment if segment is not None and segment.dynamic else None


async def _catalogue_and_kept(
    site_id: int, connection: BaseDBAsyncClient | None
) -> tuple[Catalogue, bool]:
    """The site's catalogue, and whether it keeps rule matches (its kept rows were built):
    the version and the flag in the one statement a catalogue read costs anyway."""
    rows = await fetch(
        "SELECT s.segments_version AS v, ks.id AS kept FROM sites s"
        " LEFT JOIN membership_sites ks ON ks.site_id = s.id WHERE s.id = $1",
        [site_id],
        connection,
    )
    version = int(rows[0]["v"]) if rows else 0
    kept = bool(rows) and rows[0]["kept"] is not None
    return await catalogue.get(site_id, version, connection), kept


async def member_counts(*, site_id: int, segment_pks: Sequence[int]) -> dict[int, int]:
    """Effective member count per segment: one statement for the listed segments and one
    scan of the site's members for all the DYNAMIC ones, whatever the number of segments."""
    if not segment_pks:
        return {}
    now = datetime.now(UTC)
    cat = await catalogue.get(site_id)
    dynamic = [cat.by_pk[pk] for pk in segment_pks if pk in cat.by_pk and cat.by_pk[pk].dynamic]
    static = [pk for pk in segment_pks if pk not in {s.pk for s in dynamic}]
    counts = {pk: 0 for pk in segment_pks}
    if static:
        effective = _EFFECTIVE.format(segments=_marks(static, 3))
        rows = await fetch(
            f"SELECT e.segment_id, COUNT(*) AS n FROM ({effective}) e"
            f" WHERE {_NOT_EXCLUDED} GROUP BY e.segment_id",
            [site_id, ts(now), *static],
        )
        counts.update({int(r["segment_id"]): int(r["n"]) for r in rows})
    if dynamic:
        counts.update(await _dynamic_counts(site_id, cat, dynamic, now))
    return counts


async def _dynamic_counts(
    site_id: int, cat: Catalogue, segments: list[SegmentDef], now: datetime
) -> dict[int, int]:
    query = Query()
    query.bind(site_id)
    conditions = Conditions(cat, query, now)
    source = members_from(any(needs_company(cat, s) for s in segments))
    if len(segments) == 1:
        condition = conditions.member(segments[0])
        select = f"COUNT(*) AS n0 FROM {source} WHERE m.site_id = $1 AND {condition}"
    else:
        sums = ", ".join(
            f"SUM(CASE WHEN {conditions.member(s)} THEN 1 ELSE 0 END) AS n{i}"
            for i, s in enumerate(segments)
        )
        select = f"{sums} FROM {source} WHERE m.site_id = $1"
    row = (await fetch(f"SELECT {select}", query.params))[0]
    return {s.pk: int(row[f"n{i}"] or 0) for i, s in enumerate(segments)}


async def company_counts(*, site_id: int, segment_pks: Sequence[int]) -> dict[int, int]:
    if not segment_pks:
        return {}
    rows = await fetch(
        "SELECT segment_id, COUNT(*) AS n FROM segment_companies WHERE site_id = $1"
        f" AND segment_id IN ({_marks(segment_pks, 2)}) GROUP BY segment_id",
        [site_id, *segment_pks],
    )
    counts = {pk: 0 for pk in segment_pks}
    counts.update({int(r["segment_id"]): int(r["n"]) for r in rows})
    return counts


_MEMBER_COLUMNS = (
    "m.id, m.external_id, m.email, m.name, m.company_id, m.attributes, m.bucket,"
    " m.created_at, m.updated_at"
)


def _member_search(search: str | None, params: list[Any]) -> str:
    """A filter on members m by id, email or name containing the text (case-insensitive)."""
    if not search:
        return ""
    params.append(like_pattern(search))
    n = len(params)
    return unicode_lower(
        f" AND (lower(m.external_id) LIKE ${n} ESCAPE '\\' OR lower(m.email) LIKE ${n} ESCAPE '\\'"
        f" OR lower(m.name) LIKE ${n} ESCAPE '\\')"
    )


async def list_members(
    *,
    site_id: int,
    segment_pk: int,
    search: str | None,
    first: int,
    after: int | None,
    connection: BaseDBAsyncClient | None = None,
) -> list[dict[str, Any]]:
    """Up to first+1 effective members of a segment in member order, with how each is a member.
    Inside a transaction pass its connection, to read what it sees. A DYNAMIC segment of a site
    that keeps rule matches is read from them (a keyset walk, like a listed segment's); of one
    that does not, by a scan of the site's members with the rule compiled to SQL."""
    cat, kept = await _catalogue_and_kept(site_id, connection)
    found = cat.by_pk.get(segment_pk)
    dynamic = found if found is not None and found.dynamic else None
    if dynamic is not None and (search or not kept):
        return await _scan_members(site_id, cat, dynamic, search, first, after, connection)
    if not search:
        page = _PAGE
        if dynamic is not None:
            # the segment inline: its matches run from none to most of the site, and a plan
            # made for any segment (a prepared statement's generic plan) fits none of them
            arm = _RULE_ARM.replace("$3", str(int(segment_pk)))
            page += arm if is_postgres(connection) else arm.replace(" OFFSET 0", "")
        # the page's ids first (a subquery with its own LIMIT), then their members: joined
        # the other way, PostgreSQL may walk the members in id order to spare a sort
        rows = await fetch(
            f"SELECT {_MEMBER_COLUMNS}, e.source, e.added_at, e.expires_at"
            f" FROM (SELECT * FROM ({page}) p ORDER BY p.member_id LIMIT $5) e"
            " JOIN members m ON m.id = e.member_id ORDER BY e.member_id",
            [site_id, ts(datetime.now(UTC)), segment_pk, after or 0, first + 1],
            connection,
        )
        return [_decode(r) for r in rows]
    params: list[Any] = [site_id, ts(datetime.now(UTC)), segment_pk]
    where = _member_search(search, params)
    if after is not None:
        params.append(after)
        where += f" AND e.member_id > ${len(params)}"
    params.append(first + 1)
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS}, e.source, e.added_at, e.expires_at"
        f" FROM ({_EFFECTIVE.format(segments='$3')}) e JOIN members m ON m.id = e.member_id"
        f" WHERE {_NOT_EXCLUDED}{where} ORDER BY e.member_id LIMIT ${len(params)}",
        params,
        connection,
    )
    return [_decode(r) for r in rows]


async def every_member(
    *, site_id: int, segment_pk: int, batch: int, connection: BaseDBAsyncClient | None = None
) -> AsyncGenerator[list[dict[str, Any]]]:
    """Every effective member of a segment in member order, ``batch`` rows at a time: the
    pages of list_members (the same rows and statements), the next one read only when asked
    for, so a caller that stops early reads no further. Inside a transaction pass its
    connection, to read what it sees."""
    after: int | None = None
    while True:
        rows = await list_members(
            site_id=site_id,
            segment_pk=segment_pk,
            search=None,
            first=batch,
            after=after,
            connection=connection,
        )
        page = rows[:batch]
        if page:
            yield page
        if len(rows) <= batch:
            return
        after = int(page[-1]["id"])


async def count_members(*, site_id: int, segment_pk: int, search: str | None) -> int:
    if not search:
        return (await member_counts(site_id=site_id, segment_pks=[segment_pk]))[segment_pk]
    cat, dynamic = await _dynamic(site_id, segment_pk)
    if dynamic is not None:
        query = Query([site_id])
        condition = Conditions(cat, query, datetime.now(UTC)).member(dynamic)
        where = _member_search(search, query.params)
        rows = await fetch(
            f"SELECT COUNT(*) AS n FROM {members_from(needs_company(cat, dynamic))}"
            f" WHERE m.site_id = $1 AND {condition}{where}",
            query.params,
        )
        return int(rows[0]["n"])
    params: list[Any] = [site_id, ts(datetime.now(UTC)), segment_pk]
    where = _member_search(search, params)
    rows = await fetch(
        f"SELECT COUNT(*) AS n FROM ({_EFFECTIVE.format(segments='$3')}) e"
        f" JOIN members m ON m.id = e.member_id WHERE {_NOT_EXCLUDED}{where}",
        params,
    )
    return int(rows[0]["n"])


async def _scan_members(
    site_id: int,
    cat: Catalogue,
    segment: SegmentDef,
    search: str | None,
    first: int,
    after: int | None,
    connection: BaseDBAsyncClient | None = None,
) -> list[dict[str, Any]]:
    """list_members for a DYNAMIC segment: the site's members in id order, kept by condition."""
    query = Query([site_id])
    conditions = Conditions(cat, query, datetime.now(UTC))
    condition = conditions.member(segment)
    now = conditions.now
    pk = int(segment.pk)
    where = _member_search(search, query.params)
    if after is not None:
        where += f" AND m.id > {query.bind(after)}"
    limit = query.bind(first + 1)
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS},"
        f" COALESCE(sm.source, CASE WHEN sc.company_id IS NOT NULL THEN 'COMPANY' ELSE 'RULE' END)"
        " AS source, COALESCE(sm.added_at, sc.added_at) AS added_at, sm.expires_at"
        f" FROM {members_from(needs_company(cat, segment))}"
        " LEFT JOIN segment_members sm ON sm.member_id = m.id"
        f" AND sm.segment_id = {pk} AND (sm.expires_at IS NULL OR sm.expires_at > {now})"
        " LEFT JOIN segment_companies sc ON sc.company_id = m.company_id"
        f" AND sc.segment_id = {pk}"
        f" WHERE m.site_id = $1 AND {condition}{where} ORDER BY m.id LIMIT {limit}",
        query.params,
        connection,
    )
    return [_decode(r) for r in rows]


async def _linked(
    select: str, pk: str, *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 rows a segment's links name, in ``pk`` order after the key: ``select``
    reads the rows joined to the link table, named ``l``."""
    params: list[Any] = [site_id, segment_pk]
    where = ""
    if after is not None:
        params.append(after)
        where = f" AND {pk} > ${len(params)}"
    params.append(first + 1)
    rows = await fetch(
        f"{select} WHERE l.site_id = $1 AND l.segment_id = $2{where}"
        f" ORDER BY {pk} LIMIT ${len(params)}",
        params,
    )
    return [_decode(r) for r in rows]


async def list_companies(
    *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 listed companies of a segment, in company order."""
    return await _linked(
        "SELECT c.id, c.external_id, c.name, c.plan, c.attributes, c.created_at, c.updated_at"
        " FROM segment_companies l JOIN companies c ON c.id = l.company_id",
        "c.id",
        site_id=site_id,
        segment_pk=segment_pk,
        first=first,
        after=after,
    )


async def list_excluded(
    *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 excluded members of a segment, in member order."""
    return await _linked(
        f"SELECT {_MEMBER_COLUMNS} FROM segment_exclusions l JOIN members m ON m.id = l.member_id",
        "m.id",
        site_id=site_id,
        segment_pk=segment_pk,
        first=first,
        after=after,
    )


async def count_excluded(*, site_id: int, segment_pk: int) -> int:
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM segment_exclusions WHERE site_id = $1 AND segment_id = $2",
        [site_id, segment_pk],
    )
    return int(rows[0]["n"])


async def segments_of_companies(
    *, site_id: int, keys: Sequence[tuple[int, bool]]
) -> dict[tuple[int, bool], list[SegmentDef]]:
    """For each (company pk, include inactive): the segments listing it, in pk order."""
    pks = sorted({k[0] for k in keys})
    if not pks:
        return {}
    rows = await fetch(
        "SELECT sc.company_id, sc.segment_id FROM segment_companies sc"
        f" WHERE sc.site_id = $1 AND sc.company_id IN ({_marks(pks, 2)}) ORDER BY sc.segment_id",
        [site_id, *pks],
    )
    cat = await catalogue.get(site_id)
    now = datetime.now(UTC)
    answers: dict[tuple[int, bool], list[SegmentDef]] = {k: [] for k in keys}
    for row in rows:
        segment = cat.by_pk.get(int(row["segment_id"]))
        if segment is None:
            continue
        for include_inactive in (False, True):
            key = (int(row["company_id"]), include_inactive)
            if key in answers and (include_inactive or segment.status(now) is SegmentStatus.ACTIVE):
                answers[key].append(segment)
    return answers


async def _eligible(site_id: int, segment_pk: int) -> tuple[Catalogue, SegmentDef | None]:
    """The catalogue, and the segment when it is STATIC with a rule (only those have eligibles)."""
    cat = await catalogue.get(site_id)
    segment = cat.by_pk.get(segment_pk)
    if segment is None or segment.rule is None or segment.dynamic:
        return cat, None
    return cat, segment


async def list_eligible(
    *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 members the rule of a STATIC segment matches who are not members yet."""
    cat, segment = await _eligible(site_id, segment_pk)
    if segment is None:
        return []
    query = Query([site_id])
    condition = Conditions(cat, query, datetime.now(UTC)).eligible(segment)
    where = f" AND m.id > {query.bind(after)}" if after is not None else ""
    limit = query.bind(first + 1)
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS} FROM {members_from(needs_company(cat, segment))}"
        f" WHERE m.site_id = $1 AND {condition}{where} ORDER BY m.id LIMIT {limit}",
        query.params,
    )
    return [_decode(r) for r in rows]


async def count_eligible(*, site_id: int, segment_pk: int) -> int:
    cat, segment = await _eligible(site_id, segment_pk)
    if segment is None:
        return 0
    query = Query([site_id])
    condition = Conditions(cat, query, datetime.now(UTC)).eligible(segment)
    rows = await fetch(
        f"SELECT COUNT(*) AS n FROM {members_from(needs_company(cat, segment))}"
        f" WHERE m.site_id = $1 AND {condition}",
        query.params,
    )
    return int(rows[0]["n"])


def effective_select(cat: Catalogue, segment_pk: int, query: Query, now: datetime) -> str:
    """SQL selecting (member_id, source) of every effective member of the segment.

    Binds what it needs into ``query``, whose first parameter must be the site id."""
    segment = cat.by_pk.get(segment_pk)
    if segment is not None and segment.dynamic:
        conditions = Conditions(cat, query, now)
        condition = conditions.member(segment)
        pk = int(segment_pk)
        return (
            "SELECT m.id AS member_id, COALESCE(sm.source, CASE WHEN sc.company_id IS NOT NULL"
            " THEN 'COMPANY' ELSE 'RULE' END) AS source"
            f" FROM {members_from(needs_company(cat, segment))}"
            f" LEFT JOIN segment_members sm ON sm.member_id = m.id AND sm.segment_id = {pk}"
            f" AND (sm.expires_at IS NULL OR sm.expires_at > {conditions.now})"
            " LEFT JOIN segment_companies sc ON sc.company_id = m.company_id"
            f" AND sc.segment_id = {pk} WHERE m.site_id = $1 AND {condition}"
        )
    now_mark = query.bind(ts(now))
    effective = _EFFECTIVE.replace("$2", now_mark).format(segments=str(int(segment_pk)))
    return f"SELECT e.member_id, e.source FROM ({effective}) e WHERE {_NOT_EXCLUDED}"


# the listings of a segment's rows (filter segment_pk) its GraphQL connections page through
# (the effective members' and listed companies' counts come from the request's segment counts)
EFFECTIVE = RowListing(list_members)
LISTED_COMPANIES = RowListing(list_companies)
EXCLUDED = RowListing(list_excluded, count_excluded)
ELIGIBLE = RowListing(list_eligible, count_eligible)
