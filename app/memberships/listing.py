"""Use cases that turn who a segment's rule or membership names into listed members:
includeEligibleMembers (a STATIC segment lists its rule's matches) and freezeSegment
(a new STATIC segment lists another's effective members of today). Each is one
set-based INSERT ... SELECT inside one transaction, audited there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import fetch, ts
from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.events.models import EventKind
from app.memberships import bulk
from app.memberships.changes import Outcome
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.memberships.service import effective_select
from app.segments import catalogue
from app.segments import service as segments
from app.segments.models import Segment

SAMPLE = 100


async def include_eligible(*, site_id: int, actor: str, segment_id: str) -> Outcome:
    """List every member the STATIC segment's rule matches who is not a member yet (RULE)."""
    async with in_transaction() as tx:
        found = await segments.get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["segmentId"], connection=tx
        )
        pk: int = found.id
        await bulk.lock_segment(tx, pk)
        cat = await catalogue.get(site_id, connection=tx)
        segment = cat.by_pk[pk]
        if segment.rule is None:
            raise DomainError(ErrorCode.INVALID, "the segment has no rule", ["segmentId"])
        if segment.dynamic:
            raise DomainError(
                ErrorCode.INVALID,
                "the segment is DYNAMIC: its rule matches are members already",
                ["segmentId"],
            )
        now = datetime.now(UTC)
        query = Query([site_id])
        condition = Conditions(cat, query, now).eligible(segment)
        source = f"{members_from(needs_company(cat, segment))} WHERE m.site_id = $1 AND {condition}"
        count = int((await fetch(f"SELECT COUNT(*) AS n FROM {source}", query.params, tx))[0]["n"])
        sample = await _sample(tx, f"SELECT m.id AS member_id FROM {source}", query.params)
        added_at = query.bind(ts(now, tx))
        await fetch(
            "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at,"
            f" expires_at) SELECT $1, {pk}, m.id, 'RULE', {added_at}, NULL FROM {source}"
            " ON CONFLICT (segment_id, member_id) DO UPDATE SET source = 'RULE',"
            " added_at = excluded.added_at, expires_at = NULL",
            query.params,
            tx,
        )
        if count:
            await events.record(
                tx,
                site_id=site_id,
                segment_id=pk,
                kind=EventKind.MEMBERS_ADDED,
                actor=actor,
                count=count,
                sample_ids=sample,
            )
    outcome = Outcome(segment_id=pk)
    outcome.added = count
    return outcome


async def freeze(*, site_id: int, actor: str, segment_id: str, name: str) -> Segment:
    """A new STATIC segment listing the given segment's effective members of now."""
    async with in_transaction() as tx:
        original = await segments.get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
        )
        cat = await catalogue.get(site_id, connection=tx)
        now = datetime.now(UTC)
        copy = await segments.create_in(
            tx,
            site_id=site_id,
            actor=actor,
            data=segments.SegmentData(
                name=name,
                description=f"Frozen copy of {original.name!r} as of {now.isoformat()}",
            ),
        )
        query = Query([site_id])
        members = effective_select(cat, original.id, query, now)
        added_at = query.bind(ts(now, tx))
        # the copy lists members, not companies: who came through a company is MANUAL there
        await fetch(
            "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at,"
            f" expires_at) SELECT $1, {int(copy.id)}, f.member_id, CASE f.source"
            f" WHEN 'COMPANY' THEN 'MANUAL' ELSE f.source END, {added_at}, NULL"
            f" FROM ({members}) f",
            query.params,
            tx,
        )
        count_rows = await fetch(
            "SELECT COUNT(*) AS n FROM segment_members WHERE segment_id = $1", [copy.id], tx
        )
        count = int(count_rows[0]["n"])
        if count:
            sample = await _sample(
                tx,
                f"SELECT member_id FROM segment_members WHERE segment_id = {int(copy.id)}",
                [],
            )
            await events.record(
                tx,
                site_id=site_id,
                segment_id=copy.id,
                kind=EventKind.MEMBERS_ADDED,
                actor=actor,
                count=count,
                sample_ids=sample,
            )
    return copy


async def _sample(tx: BaseDBAsyncClient, members: str, params: list[Any]) -> list[str]:
    """The external ids of the first members (by row id) the statement selects."""
    rows = await fetch(
        f"SELECT s.external_id FROM members s WHERE s.id IN ({members})"
        f" ORDER BY s.id LIMIT {SAMPLE}",
        params,
        tx,
    )
    return [str(r["external_id"]) for r in rows]
