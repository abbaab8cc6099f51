"""A segment with its counts and one page of its members: what a segment's page shows, read
in two statements (the planned ``segment`` document of app.lookups.page answers from it).

1. the site row (its segments version, whether it keeps its rule matches) with the segment's
   kept counters (``segment_counts``); the segment itself is the site's cached catalogue's;
2. when a page is asked: first+1 effective members after the cursor, one keyset walk of the
   segment's listings, its companies' members and (DYNAMIC) its kept matches, the member
   columns asked and nothing else (attributes only when asked).

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
from app.memberships.service import _PAGE, _RULE_ARM
from app.memberships.service import list_members as _list_members
from app.segments.counts import Counts, counts

# the member columns a page may read, beside m.id
COLUMNS = ("external_id", "email", "name", "attributes", "created_at", "updated_at")

_HEAD = (
    "SELECT s.segments_version AS v, ks.id AS kept, k.member_count, k.company_count"
    " FROM sites s LEFT JOIN membership_sites ks ON ks.site_id = s.id"
    " LEFT JOIN segment_counts k ON k.segment_id = $2 WHERE s.id = $1"
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
    ``after``, with the ``columns`` (of COLUMNS) asked."""
    now = datetime.now(UTC)
    c = conn()
    _, heads = await c.execute_query(sql(_HEAD, c), [site_id, segment_pk])
    if not heads:
        return None
    head = heads[0]
    segment = (await catalogue.get(site_id, int(head["v"]))).by_pk.get(segment_pk)
    if segment is None:
        return None
    found = None
    if head["kept"] is not None and head["member_count"] is not None:
        found = Counts(int(head["member_count"]), int(head["company_count"]))
    elif counted:  # not kept: counted by the general reader
        found = (await counts(site_id=site_id, segment_pks=[segment_pk]))[segment_pk]
    if first is None:
        return SegmentPage(segment, found, None, now)
    if segment.dynamic and head["kept"] is None:
        rows: Sequence[Any] = await _list_members(
            site_id=site_id, segment_pk=segment_pk, search=None, first=first, after=after
        )
        return SegmentPage(segment, found, rows, now)
    page = _PAGE
    if segment.dynamic:
        # inline, as memberships.list_members does: no generic plan fits every segment
        arm = _RULE_ARM.replace("$3", str(int(segment_pk)))
        page += arm if is_postgres(c) else arm.replace(" OFFSET 0", "")
    wanted = "".join(f", m.{name}" for name in COLUMNS if name in columns)
    _, rows = await c.execute_query(
        sql(
            f"SELECT m.id{wanted}, e.source, e.added_at, e.expires_at"
            f" FROM (SELECT * FROM ({page}) p ORDER BY p.member_id LIMIT $5) e"
            " JOIN members m ON m.id = e.member_id ORDER BY e.member_id",
            c,
        ),
        [site_id, ts(now, c), segment_pk, after or 0, first + 1],
    )
    return SegmentPage(segment, found, rows, now)
