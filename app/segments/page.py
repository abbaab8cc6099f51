"""A segment with its counts and one page of its members: what a segment's page shows, read
in two statements (the planned ``segment`` document of app.lookups.page answers from it).

1. the site row (its segments version, whether it keeps its rule matches) with the segment's
   kept counters (``segment_counts``) and whether it has listed companies and exclusions; the
   segment itself is the site's cached catalogue's;
2. when a page is asked: first+1 effective members after the cursor, a keyset walk of the
   segment's listings (of its companies' members and of its kept matches too, when it has
   those), checking only the ties it has (a listed segment without companies nor exclusions:
   one index range), with the member columns asked and nothing else (attributes only when
   asked). Each variant is a statement of its own, cheap to plan.

A segment's page asked again is read in one statement: the head beside the page walked as
the last head said, kept when the head read with it (and the catalogue of its version) says
the walk still holds, read again the two statements' way otherwise.

It also reads a page of a site's segments with their counts (``read_list``), in one
statement.

The answers are those of the general readers (``memberships.list_members``,
``counts.counts``); whatever they would read another way (a DYNAMIC segment of a site that
keeps no rule matches, a counter not kept) is read by them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.db import conn, is_postgres, sql, ts
from app.memberships import catalogue
from app.memberships.catalogue import SegmentDef
from app.memberships.service import list_members as _list_members
from app.segments.counts import Counts, counts
from app.status import SegmentStatus

# the member columns a page may read, beside m.id
COLUMNS = ("external_id", "email", "name", "attributes", "created_at", "updated_at")
# and of the membership, each read only when asked (51 rows of timestamps decoded for nothing
# otherwise)
EDGE_COLUMNS = ("source", "added_at", "expires_at")

_HEAD = (
    "SELECT s.segments_version AS v, ks.id AS kept, k.member_count, k.company_count,"
    " EXISTS (SELECT 1 FROM segment_companies c WHERE c.segment_id = $2) AS companies,"
    " EXISTS (SELECT 1 FROM segment_exclusions x WHERE x.segment_id = $2) AS exclusions"
    " FROM sites s LEFT JOIN membership_sites ks ON ks.site_id = s.id"
    " LEFT JOIN segment_counts k ON k.segment_id = $2 WHERE s.id = $1"
)
# the parameters of a page: $1 site, $2 now, $3 segment, $4 the cursor's member pk; $5 the
# size, written into the statement as a number: PostgreSQL then keeps one generic plan of it
# (a LIMIT it cannot see makes it plan every execution again, ~180 µs of its CPU a page)
_LISTED = "(sm.expires_at IS NULL OR sm.expires_at > $2)"


def _unless(kind: str, member: str, probe: str) -> str:
    """SQL: the member is not tied to the segment ($3) that way."""
    if kind == "excluded":
        found = (
            f"SELECT 1 FROM segment_exclusions x WHERE x.segment_id = $3 AND x.member_id = {member}"
        )
    elif kind == "listed":
        found = (
            "SELECT 1 FROM segment_members sm WHERE sm.segment_id = $3"
            f" AND sm.member_id = {member} AND {_LISTED}"
        )
    else:
        found = (
            "SELECT 1 FROM members cm JOIN segment_companies sc ON sc.company_id = cm.company_id"
            f" AND sc.segment_id = $3 WHERE cm.id = {member}"
        )
    return f" AND NOT EXISTS ({found}{probe})"


def _arms(*, companies: bool, exclusions: bool, rule: int | None, postgres: bool) -> list[str]:
    """The page's keyset walks, each from the cursor in member order, at most $5 rows: the
    listings, the listed companies' members (when it has companies), the kept rule matches
    (``rule``: the DYNAMIC segment's pk); each checks only the ties the segment has. A rule
    arm's segment is inline and its checks are probes (OFFSET 0), as memberships'
    list_members reads it."""
    excluded = exclusions
    arms = [
        "SELECT sm.member_id, sm.source, sm.added_at, sm.expires_at FROM segment_members sm"
        f" WHERE sm.site_id = $1 AND sm.segment_id = $3 AND sm.member_id > $4 AND {_LISTED}"
        + (_unless("excluded", "sm.member_id", "") if excluded else "")
        + " ORDER BY sm.member_id LIMIT $5"
    ]
    if companies:
        arms.append(
            "SELECT m.id AS member_id, 'COMPANY' AS source, sc.added_at,"
            " CAST(NULL AS timestamptz) AS expires_at"
            " FROM segment_companies sc JOIN members m ON m.company_id = sc.company_id"
            " WHERE sc.site_id = $1 AND sc.segment_id = $3 AND m.site_id = $1 AND m.id > $4"
            + _unless("listed", "m.id", "")
            + (_unless("excluded", "m.id", "") if excluded else "")
            + " ORDER BY m.id LIMIT $5"
        )
    if rule is not None:
        probe = " OFFSET 0" if postgres else ""
        arms.append(
            (
                "SELECT r.member_id, 'RULE' AS source, CAST(NULL AS timestamptz) AS added_at,"
                " CAST(NULL AS timestamptz) AS expires_at FROM segment_rule_matches r"
                " WHERE r.segment_id = $3 AND r.member_id > $4"
                + _unless("listed", "r.member_id", probe)
                + (_unless("company", "r.member_id", probe) if companies else "")
                + (_unless("excluded", "r.member_id", probe) if excluded else "")
                + " ORDER BY r.member_id LIMIT $5"
            ).replace("$3", str(int(rule)))
        )
    return arms


def _page(columns: str, arms: list[str]) -> str:
    if len(arms) == 1:
        walk = f"({arms[0]}) e"
    else:
        union = " UNION ALL ".join(f"SELECT * FROM ({arm}) a{i}" for i, arm in enumerate(arms))
        walk = f"(SELECT * FROM ({union}) p ORDER BY p.member_id LIMIT $5) e"
    return (
        f"SELECT m.id{columns} FROM {walk}"
        " JOIN members m ON m.id = e.member_id ORDER BY e.member_id"
    )


@dataclass(frozen=True, slots=True)
class SegmentPage:
    segment: SegmentDef
    counts: Counts | None  # None: not asked
    # up to first+1 members in member order (each with its source, added_at and expires_at),
    # when a page was asked
    rows: Sequence[Any] | None
    now: datetime


async def read(
    *,
    site_id: int,
    segment_pk: int,
    first: int | None,
    after: int | None,
    columns: Sequence[str] = (),
    counted: bool = True,
) -> SegmentPage | None:
    """The segment (None when the site has none such), its counts (when ``counted``), and,
    when ``first`` is given, up to first+1 of its effective members after the member pk
    ``after``, with the ``columns`` (of COLUMNS and EDGE_COLUMNS) asked."""
    now = datetime.now(UTC)
    c = conn()
    params = [site_id, ts(now, c), segment_pk, after or 0]
    walk = _walks.get((site_id, segment_pk)) if first is not None else None
    if walk is not None and first is not None:
        # the head and the page in one statement, kept when the head says the walk still holds
        text = _WITH_HEAD.format(page=_statement(walk, segment_pk, columns, first, c))
        _, rows = await c.execute_query(sql(text, c), params)
        if rows and _holds(walk, rows[0]):
            page = [r for r in rows if r["id"] is not None]
            found = await _read(site_id, segment_pk, rows[0], counted, page, now)
            if found is None or found.segment.dynamic == walk.dynamic:
                return found
    head = next(iter((await c.execute_query(sql(_HEAD, c), [site_id, segment_pk]))[1]), None)
    if head is None:
        return None
    found = await _read(site_id, segment_pk, head, counted, None, now)
    if found is None or first is None:
        return found
    segment = found.segment
    if segment.dynamic and head["kept"] is None:
        rows = await _list_members(
            site_id=site_id, segment_pk=segment_pk, search=None, first=first, after=after
        )
        return SegmentPage(segment, found.counts, rows, now)
    walk = _Walk(
        head["kept"] is not None,
        bool(head["companies"]),
        bool(head["exclusions"]),
        segment.dynamic,
    )
    if len(_walks) >= _MAX_WALKS:
        _walks.clear()
    _walks[(site_id, segment_pk)] = walk
    _, rows = await c.execute_query(sql(_statement(walk, segment_pk, columns, first, c), c), params)
    return SegmentPage(segment, found.counts, rows, now)


@dataclass(frozen=True, slots=True)
class _Walk:
    """What a segment's page walks, as its last head said: whether the site keeps its
    matches, whether the segment has listed companies and exclusions, whether it is
    DYNAMIC (checked against the catalogue of the version read with the page)."""

    kept: bool
    companies: bool
    exclusions: bool
    dynamic: bool


# each segment's walk as its last head gave it: a page asked again is read with its head in
# one statement (one round trip, not two), and read again the long way when that head, or
# the catalogue of its version, says the walk no longer holds
_walks: dict[tuple[int, int], _Walk] = {}
_MAX_WALKS = 10_000
# the head ($3 is the segment) beside the page's rows: one row with no member for none
_WITH_HEAD = (
    "SELECT h.*, p.* FROM (" + _HEAD.replace("$2", "$3") + ") h"
    " LEFT JOIN ({page}) p ON 1 = 1 ORDER BY p.id"
)


def _holds(walk: _Walk, head: Any) -> bool:
    """Whether the head read with a page says the walk it was read with still holds."""
    return (
        (head["kept"] is not None) == walk.kept
        and bool(head["companies"]) == walk.companies
        and bool(head["exclusions"]) == walk.exclusions
    )


def _statement(walk: _Walk, segment_pk: int, columns: Sequence[str], first: int, c: Any) -> str:
    """The page's statement (the size written in, see above)."""
    wanted = "".join(f", m.{name}" for name in COLUMNS if name in columns) + "".join(
        f", e.{name}" for name in EDGE_COLUMNS if name in columns
    )
    arms = _arms(
        companies=walk.companies,
        exclusions=walk.exclusions,
        rule=segment_pk if walk.dynamic else None,
        postgres=is_postgres(c),
    )
    return _page(wanted, arms).replace("$5", str(int(first) + 1))


async def _read(
    site_id: int,
    segment_pk: int,
    head: Any,
    counted: bool,
    rows: Sequence[Any] | None,
    now: datetime,
) -> SegmentPage | None:
    """The page of a head (and of its rows): the segment from the catalogue of the head's
    version (None: no such segment), its counts from the kept counters, or counted."""
    cat = await catalogue.get(site_id, int(head["v"]))
    segment = cat.by_pk.get(segment_pk)
    if segment is None:
        return None
    found = None
    if head["kept"] is not None and head["member_count"] is not None:
        found = Counts(int(head["member_count"]), int(head["company_count"]))
    elif counted:  # not kept: counted by the general reader
        found = (await counts(site_id=site_id, segment_pks=[segment_pk]))[segment_pk]
    return SegmentPage(segment, found, rows, now)


# a page of the site's segments in name order with their kept counters and the site's
# segments version: $1 site, then the filter's parameters; the size a number (as a page's)
_LIST = (
    "SELECT s.id, st.segments_version AS v, ks.id AS kept, k.member_count, k.company_count"
    " FROM segments s JOIN sites st ON st.id = s.site_id"
    " LEFT JOIN membership_sites ks ON ks.site_id = s.site_id"
    " LEFT JOIN segment_counts k ON k.segment_id = s.id"
    " WHERE s.site_id = $1 AND {where} ORDER BY s.name LIMIT {size}"
)
# the segments with a status at $now (app.segments.service's status_filter, in SQL)
_STARTED = "(s.starts_at IS NULL OR s.starts_at <= $now)"
_STATUS = {
    None: "s.archived_at IS NULL",
    SegmentStatus.ARCHIVED: "s.archived_at IS NOT NULL",
    SegmentStatus.INACTIVE: "s.archived_at IS NULL AND NOT s.is_active",
    SegmentStatus.SCHEDULED: "s.archived_at IS NULL AND s.is_active AND s.starts_at > $now",
    SegmentStatus.EXPIRED: (
        f"s.archived_at IS NULL AND s.is_active AND s.ends_at <= $now AND {_STARTED}"
    ),
    SegmentStatus.ACTIVE: (
        f"s.archived_at IS NULL AND s.is_active AND {_STARTED}"
        " AND (s.ends_at IS NULL OR s.ends_at > $now)"
    ),
}


@dataclass(frozen=True, slots=True)
class SegmentList:
    segments: list[SegmentDef]  # up to first+1, in name order
    counts: dict[int, Counts] | None  # by segment pk; None: not asked
    total: int | None  # the segments not archived; None: not asked
    now: datetime


async def read_list(
    *,
    site_id: int,
    first: int,
    after: str | None,
    status: SegmentStatus | None,
    counted: bool,
    total: bool,
) -> SegmentList | None:
    """Up to first+1 of the site's segments with that ``status`` now (None: every segment not
    archived), in name order after the name ``after``: the segments' listing of
    app.segments.service without a search, in one statement, the segments themselves the
    site's cached catalogue's; their counts (when ``counted``) and the number of segments
    with that status over every page (when ``total``). None when the catalogue misses one of
    them (a segment made since: the caller reads it another way)."""
    now = datetime.now(UTC)
    c = conn()
    where = _STATUS[status]
    params: list[Any] = [site_id]
    if "$now" in where:
        params.append(ts(now, c))
        where = where.replace("$now", f"${len(params)}")
    if after is not None:
        params.append(after)
        where += f" AND s.name > ${len(params)}"
    text = _LIST.format(where=where, size=int(first) + 1)
    _, rows = await c.execute_query(sql(text, c), params)
    version = int(rows[0]["v"]) if rows else None
    cat = None
    if rows or total:
        cat = await catalogue.get(site_id, version)
    by_pk = {} if cat is None else cat.by_pk
    segments = [by_pk.get(int(r["id"])) for r in rows]
    if any(s is None for s in segments):
        return None
    found = None
    if counted:
        found = {}
        missing = []
        for row in rows:
            pk = int(row["id"])
            if row["kept"] is None or row["member_count"] is None:
                missing.append(pk)
            else:
                found[pk] = Counts(int(row["member_count"]), int(row["company_count"]))
        if missing:  # not kept: counted by the general reader
            found.update(await counts(site_id=site_id, segment_pks=missing))
    every = None
    if total:
        every = sum(_is(s, status, now) for s in by_pk.values())
    return SegmentList([s for s in segments if s is not None], found, every, now)


def _is(segment: SegmentDef, status: SegmentStatus | None, now: datetime) -> bool:
    found = segment.status(now)
    return found is not SegmentStatus.ARCHIVED if status is None else found is status
