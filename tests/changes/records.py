"""Writing records straight through the record's writer, for the readers' tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.changes.models import ChangeCause, ChangeKind
from app.changes.record import Change, lock_site, write

AT = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def changes(
    segment_pk: int, refs: list[str], kind: ChangeKind = ChangeKind.ENTERED
) -> list[Change]:
    return [
        Change(
            segment_id=segment_pk,
            member_id=1000 + i,
            member_ref=ref,
            kind=kind,
            cause=ChangeCause.LISTED if kind is ChangeKind.ENTERED else ChangeCause.UNLISTED,
            at=AT + timedelta(seconds=i),
        )
        for i, ref in enumerate(refs)
    ]


async def record(site_id: int, written: list[Change]) -> int:
    """Commit the changes as a writer does; the last id written."""
    async with in_transaction() as tx:
        await lock_site(site_id, tx)
        return await write(site_id, written, tx)
