"""Segments' member and company counts, read from the kept counters (``segment_counts``).

The writes that change a segment's effective membership move its counters by (entered -
exited) in the statement that records the changes, so a count is one row read, never a
re-count: a page of segments reads all its counters in one statement. Clock-made changes
(a listing's expiry, ``days_ago()``) move them when the sweeper (or the site's next writer)
records them: a count may be up to MEMBERSHIP_SWEEP_SECONDS late on those. A segment of a
site whose kept rows were never built (no writer since they exist) is counted from scratch,
as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import fetch
from app.memberships import service as memberships


@dataclass(frozen=True, slots=True)
class Counts:
    members: int
    companies: int


def _marks(values: Sequence[int], start: int) -> str:
    return ", ".join(f"${start + i}" for i in range(len(values)))


async def counts(
    *, site_id: int, segment_pks: Sequence[int], connection: BaseDBAsyncClient | None = None
) -> dict[int, Counts]:
    """The counts of the site's segments among ``segment_pks`` (others are left out): one
    statement when the site keeps its counters."""
    pks = sorted(set(segment_pks))
    if not pks:
        return {}
    rows = await fetch(
        "SELECT s.id, k.member_count, k.company_count, ks.id AS kept FROM segments s"
        " LEFT JOIN segment_counts k ON k.segment_id = s.id"
        " LEFT JOIN membership_sites ks ON ks.site_id = s.site_id"
        f" WHERE s.site_id = $1 AND s.id IN ({_marks(pks, 2)})",
        [site_id, *pks],
        connection,
    )
    found: dict[int, Counts] = {}
    missing: list[int] = []
    for row in rows:
        if row["kept"] is None or row["member_count"] is None:
            missing.append(int(row["id"]))
        else:
            found[int(row["id"])] = Counts(int(row["member_count"]), int(row["company_count"]))
    if missing:
        members = await memberships.member_counts(site_id=site_id, segment_pks=missing)
        companies = await memberships.company_counts(site_id=site_id, segment_pks=missing)
        for pk in missing:
            found[pk] = Counts(members.get(pk, 0), companies.get(pk, 0))
    return found
