"""Reading the record: a site's membership changes in commit order, after a kept id.

The record's ids are handed out under the site's membership lock (``record.lock_site``), so
within a site they grow in the order the changes committed: a reader that keeps the last id it
read and asks for those after it sees every change once, with no gap and no repeat, across
restarts. Every read is of the caller's site only: another site's ids, segment ids or member
ids select nothing of that site.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.changes.models import ChangeCause, ChangeKind
from app.db import as_datetime, fetch


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One recorded change, as readers see it (the member by its external id)."""

    id: int
    segment_id: int
    member_ref: str
    kind: ChangeKind
    cause: ChangeCause
    at: datetime


_COLUMNS = "id, segment_id, member_ref, kind, cause, at"


def _row(row: dict[str, Any]) -> ChangeRow:
    at = as_datetime(row["at"])
    assert at is not None
    return ChangeRow(
        id=int(row["id"]),
        segment_id=int(row["segment_id"]),
        member_ref=str(row["member_ref"]),
        kind=ChangeKind(row["kind"]),
        cause=ChangeCause(row["cause"]),
        at=at,
    )


async def list_changes(
    *,
    site_id: int,
    after: int | None,
    first: int,
    segment_pk: int | None = None,
    member_ref: str | None = None,
) -> list[ChangeRow]:
    """Up to ``first`` changes of the site after id ``after`` (from the start for None), in
    commit order, of one segment and/or one member (by external id) when given."""
    where = ["site_id = $1", "id > $2"]
    params: list[Any] = [site_id, after or 0]
    if segment_pk is not None:
        params.append(segment_pk)
        where.append(f"segment_id = ${len(params)}")
    if member_ref is not None:
        params.append(member_ref)
        where.append(f"member_ref = ${len(params)}")
    params.append(first)
    rows = await fetch(
        f"SELECT {_COLUMNS} FROM membership_changes WHERE {' AND '.join(where)}"
        f" ORDER BY id LIMIT ${len(params)}",
        params,
    )
    return [_row(r) for r in rows]


async def last_id(*, site_id: int) -> int:
    """The id of the site's newest change (0 for none): where a new reader starts."""
    rows = await fetch(
        "SELECT COALESCE(MAX(id), 0) AS last FROM membership_changes WHERE site_id = $1",
        [site_id],
    )
    return int(rows[0]["last"])


async def segment_exists(*, site_id: int, segment_pk: int) -> bool:
    """Whether the site has that segment (the record's package reads no domain's service:
    the domains that write membership import it)."""
    rows = await fetch(
        "SELECT 1 AS one FROM segments WHERE site_id = $1 AND id = $2", [site_id, segment_pk]
    )
    return bool(rows)
