"""Archive and restore: a segment leaves day-to-day use and comes back exactly as it was; and
where a segment is used (what would break if it went)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.events.models import EventKind
from app.memberships import catalogue
from app.rules import segment_names_of
from app.segments.models import Segment
from app.segments.service import _refuse_if_named_by_rules, get_or_fail


async def _set_archived(
    tx: BaseDBAsyncClient, site_id: int, actor: str, segment: Segment, at: datetime | None
) -> None:
    """Store the archived state (archived at ``at``, or restored for None) with its event."""
    was_archived = segment.archived_at is not None
    segment.archived_at = at
    await segment.save(using_db=tx, update_fields=["archived_at"])
    await catalogue.bump(tx, site_id)
    await events.record(
        tx,
        site_id=site_id,
        segment_id=segment.id,
        kind=EventKind.ARCHIVED if at is not None else EventKind.RESTORED,
        actor=actor,
        changes={"archived": {"before": was_archived, "after": at is not None}},
    )


async def archive(*, site_id: int, actor: str, segment_id: str) -> Segment:
    """Take a segment out of day-to-day use: status ARCHIVED, out of the default listings, not
    active for lookups, flags and email. Its lists, rule, options and personas are kept.
    Refused (CONFLICT) while another segment's rule names it, or when already archived."""
    async with in_transaction() as tx:
        segment = await get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
        )
        if segment.archived_at is not None:
            raise DomainError(
                ErrorCode.CONFLICT, f"segment {segment.name!r} is already archived", ["id"]
            )
        await _refuse_if_named_by_rules(site_id, segment, tx, "archived")
        await _set_archived(tx, site_id, actor, segment, datetime.now(UTC))
    return segment


async def restore(*, site_id: int, actor: str, segment_id: str) -> Segment:
    """Bring an archived segment back as it was; CONFLICT when it is not archived."""
    async with in_transaction() as tx:
        segment = await get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
        )
        if segment.archived_at is None:
            raise DomainError(
                ErrorCode.CONFLICT, f"segment {segment.name!r} is not archived", ["id"]
            )
        await _set_archived(tx, site_id, actor, segment, None)
    return segment


async def referring_segments(
    *, site_id: int, segment_pks: Sequence[int]
) -> dict[int, list[Segment]]:
    """For each segment, the other segments whose rules name it (in_segment), in name order:
    the rules come parsed from the site's cached catalogue, the rows in one statement."""
    cat = await catalogue.get(site_id)
    wanted = {cat.by_pk[pk].name: pk for pk in segment_pks if pk in cat.by_pk}
    users: dict[int, set[int]] = {pk: set() for pk in segment_pks}
    for other in cat.by_pk.values():
        if other.rule is None:
            continue
        for name in segment_names_of(other.rule):
            named = wanted.get(name)
            if named is not None and named != other.pk:
                users[named].add(other.pk)
    found: dict[int, list[Segment]] = {pk: [] for pk in segment_pks}
    every = set().union(*users.values())
    if not every:
        return found
    rows: list[Segment] = await Segment.filter(site_id=site_id, id__in=list(every)).order_by("name")
    for row in rows:
        for pk, pks in users.items():
            if row.id in pks:
                found[pk].append(row)
    return found
