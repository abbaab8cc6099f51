"""previewSegmentChange: what an update would do to a segment's membership, changing nothing.

The real update use case runs inside a transaction that is then rolled back: the counts before
and after and the changes it records are exactly what the update would do, and nothing of it
escapes (no row, no audit event, no membership record; the NOTIFY of the record is dropped by
the rollback on PostgreSQL, and on SQLite the broker's after-commit hooks never run). The site's
membership lock is held from the start, so no other writer's change is counted as the update's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tortoise.transactions import in_transaction

from app.changes.models import ChangeKind
from app.changes.record import lock_site
from app.db import fetch, is_postgres
from app.memberships import catalogue
from app.memberships import service as memberships
from app.memberships.kept import expanded
from app.segments import service as segments

SAMPLE = 100


@dataclass(frozen=True, slots=True)
class Preview:
    member_count_before: int
    member_count_after: int
    entering: int
    exiting: int
    entering_sample: list[str]
    exiting_sample: list[str]


class _Undo(Exception):
    """Raised with the answer to roll the update back."""

    def __init__(self, preview: Preview) -> None:
        super().__init__("preview: rolled back")
        self.preview = preview


async def preview_update(
    *, site_id: int, actor: str, segment_id: str, changes: dict[str, Any]
) -> Preview:
    """What ``segments.update`` with these changes would do to the segment's effective
    membership; raises the DomainError the update would."""
    try:
        async with in_transaction() as tx:
            segment = await segments.get_or_fail(
                site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
            )
            await lock_site(site_id, tx)
            last = await fetch(
                "SELECT COALESCE(MAX(id), 0) AS last FROM membership_changes WHERE site_id = $1",
                [site_id],
                tx,
            )
            before = await memberships.member_counts(site_id=site_id, segment_pks=[segment.id])
            await segments.update(
                site_id=site_id, actor=actor, segment_id=segment_id, changes=dict(changes)
            )
            after = await memberships.member_counts(site_id=site_id, segment_pks=[segment.id])
            made = await _made(site_id, segment.id, int(last[0]["last"]))
            # the copy of the segments cached inside this transaction dies with it
            catalogue.forget(site_id)
            raise _Undo(
                Preview(
                    member_count_before=before.get(segment.id, 0),
                    member_count_after=after.get(segment.id, 0),
                    **made,
                )
            )
    except _Undo as undone:
        return undone.preview
    finally:
        catalogue.forget(site_id)


async def _made(site_id: int, segment_pk: int, after_id: int) -> dict[str, Any]:
    """The changes the update recorded for the segment: counts and the first ids of each kind."""
    # the counts from the rows' sizes, the samples from the first rows of each kind
    counts = await fetch(
        "SELECT kind, SUM(size) AS n FROM membership_changes"
        " WHERE site_id = $1 AND segment_id = $2 AND id > $3 GROUP BY kind",
        [site_id, segment_pk, after_id],
    )
    rows = await fetch(
        "SELECT kind, member_ref FROM (SELECT c.kind, u.value AS member_ref,"
        " ROW_NUMBER() OVER (PARTITION BY c.kind ORDER BY c.id, u.key) AS r"
        f" FROM {expanded(is_postgres(), 'membership_changes')}"
        " WHERE c.site_id = $1 AND c.segment_id = $2 AND c.id > $3) t WHERE r <= $4"
        " ORDER BY kind, r",
        [site_id, segment_pk, after_id, SAMPLE],
    )
    made: dict[str, Any] = {"entering": 0, "exiting": 0}
    made.update(entering_sample=[], exiting_sample=[])
    for row in counts:
        made["entering" if row["kind"] == ChangeKind.ENTERED.value else "exiting"] = int(row["n"])
    for row in rows:
        side = "entering" if row["kind"] == ChangeKind.ENTERED.value else "exiting"
        made[f"{side}_sample"].append(str(row["member_ref"]))
    return made
