"""Reading the record: a site's membership changes in commit order, after a kept id.

The record's ids are handed out under the site's membership lock (``record.lock_site``), so
within a site they grow in the order the changes committed: a reader that keeps the last id it
read and asks for those after it sees every change once, with no gap and no repeat, across
restarts, as long as the record still holds them: a cursor past which the sweeper has pruned
changes is refused (``check_after``: HISTORY_UNAVAILABLE), never read on with a gap. Every
read is of the caller's site only: another site's ids, segment ids or member
ids select nothing of that site.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from app.changes.index import member_rows
from app.changes.models import ChangeCause, ChangeKind
from app.db import as_datetime, fetch, is_postgres, utc
from app.errors import HistoryUnavailable
from app.memberships.kept import change_id, expanded, has_member
from app.settings import get_settings


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One recorded change, as readers see it (the member by its external id)."""

    id: int
    segment_id: int
    member_ref: str
    kind: ChangeKind
    cause: ChangeCause
    at: datetime


def changes_select(
    pg: bool, where: str, *, after: str, upto: str | None = None, rows: str = "membership_changes"
) -> str:
    """SQL: the changes (columns id, segment_id, member_ref, kind, cause, at; in commit
    order) of the record's rows ``where`` (over alias c) selects, with ids past ``after`` (a
    bound parameter or literal) and up to ``upto``. A row's id is its last change's, so the
    rows past ``after`` are those with ``c.id > after``: the first of them may begin before.
    ``rows``: the record's rows to read (a subquery of them: ``index.member_rows``)."""
    bounds = [f"c.id > {after}", f"{change_id(pg)} > {after}"]
    if upto is not None:
        bounds += [f"c.id - c.size < {upto}", f"{change_id(pg)} <= {upto}"]
    return (
        f"SELECT {change_id(pg)} AS id, c.segment_id, u.value AS member_ref, c.kind, c.cause, c.at"
        f" FROM {expanded(pg, rows)} WHERE {where} AND {' AND '.join(bounds)}"
        # the rows in the order of an index, each one's changes in theirs (no sort of the rows'
        # changes as a whole: PostgreSQL sorts each row's alone, incrementally)
        " ORDER BY c.id, u.key"
    )


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
    indexed: bool = True,
) -> list[ChangeRow]:
    """Up to ``first`` changes of the site after id ``after`` (from the start for None), in
    commit order, of one segment and/or one member (by external id) when given. A member's
    are found by the member index up to its watermark and in the rows after it (``indexed``
    false: in every row of the site, as before the index; the answers are the same)."""
    pg = is_postgres()
    where = ["c.site_id = $1"]
    params: list[Any] = [site_id, after or 0]
    source = "membership_changes"
    if segment_pk is not None:
        params.append(segment_pk)
        where.append(f"c.segment_id = ${len(params)}")
    if member_ref is not None:
        params.append(member_ref)
        ref = f"${len(params)}"
        where += [has_member(pg, ref), f"u.value = {ref}"]
        if indexed:
            source = member_rows(pg, "$1", ref, after="$2")
    params.append(first)
    rows = await fetch(
        changes_select(pg, " AND ".join(where), after="$2", rows=source) + f" LIMIT ${len(params)}",
        params,
    )
    return [_row(r) for r in rows]


async def pruned_to(*, site_id: int, segment_pks: list[int] | None = None) -> int:
    """The last change id the sweeper pruned from the site's record (of those segments; None:
    of any), 0 for none (migration 0018): a reader after an id below it may have lost
    changes, one at or after it lost none."""
    params: list[Any] = [site_id]
    where = "site_id = $1"
    if segment_pks is not None:
        if not segment_pks:
            return 0
        where += f" AND segment_id IN ({', '.join(str(int(p)) for p in segment_pks)})"
    rows = await fetch(
        f"SELECT COALESCE(MAX(pruned_to), 0) AS upto FROM membership_prune_marks WHERE {where}",
        params,
    )
    return int(rows[0]["upto"]) if rows else 0


async def check_after(*, site_id: int, after: int | None, segment_pk: int | None = None) -> None:
    """HistoryUnavailable when changes after the kept id ``after`` (of the segment, when
    given; of any segment, for a reader of the site or of a member) were pruned: reading on
    would skip them. Nothing when every change after it is still kept, even if the change
    ``after`` names has itself been pruned since. Call it after reading the page: the pruning
    writes its mark in the transaction that deletes, so a page read before a prune committed
    is whole, and one read after sees the mark here."""
    if not after:
        return
    upto = await pruned_to(
        site_id=site_id, segment_pks=None if segment_pk is None else [segment_pk]
    )
    if upto <= after:
        return
    rows = await fetch("SELECT history_from FROM membership_sites WHERE site_id = $1", [site_id])
    start = as_datetime(rows[0]["history_from"]) if rows else None
    # as the `at` arguments say it (app.changes.history): the later of the two
    retained = datetime.now(UTC) - timedelta(days=get_settings().membership_history_days)
    since = None if start is None else max(utc(start), retained)
    kept = f" (membership history is kept from {since.isoformat()})" if since else ""
    raise HistoryUnavailable(
        f"changes after the cursor (change {after}) up to change {upto} were pruned{kept}:"
        " read from the start (no after) instead",
        since,
    )


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
