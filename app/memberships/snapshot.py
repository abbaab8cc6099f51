"""Listing who a rule or a membership names, set-based: includeEligibleMembers (a STATIC
segment lists its rule's matches) and freezeSegment (a new segment lists another's effective
members of now). Each is one INSERT ... SELECT on the caller's transaction; the membership
path (app.memberships.path) finds, locks and audits around them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import fetch, ts
from app.errors import DomainError, ErrorCode
from app.memberships import catalogue, flips, kept, lock, refresh
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.memberships.service import effective_select

SAMPLE = 100


@dataclass(frozen=True)
class Added:
    count: int
    sample: list[str]


async def rule_matches(
    tx: BaseDBAsyncClient, *, site_id: int, segment_pk: int, where: tuple[str, ...], now: datetime
) -> Added:
    """List every member the STATIC segment's rule matches who is not a member yet (RULE)."""
    cat = await catalogue.get(site_id, connection=tx)
    segment = cat.by_pk[segment_pk]
    if segment.rule is None:
        raise DomainError(ErrorCode.INVALID, "the segment has no rule", where)
    if segment.dynamic:
        raise DomainError(
            ErrorCode.INVALID, "the segment is DYNAMIC: its rule matches are members already", where
        )
    query = Query([site_id])
    condition = Conditions(cat, query, now).eligible(segment)
    source = f"{members_from(needs_company(cat, segment))} WHERE m.site_id = $1 AND {condition}"
    count = int((await fetch(f"SELECT COUNT(*) AS n FROM {source}", query.params, tx))[0]["n"])
    sample = await _sample(tx, f"SELECT m.id AS member_id FROM {source}", query.params)
    writer = kept.Writer(tx, site_id, now)
    await lock.ensure_site(site_id, tx, now)
    # every member the statement lists is not a member yet: each one enters
    written = await flips.listed_anew(writer, segment_pk, source, list(query.params))
    added_at = query.bind(ts(now, tx))
    await fetch(
        "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at,"
        f" expires_at) SELECT $1, {segment_pk}, m.id, 'RULE', {added_at}, NULL FROM {source}"
        " ON CONFLICT (segment_id, member_id) DO UPDATE SET source = 'RULE',"
        " added_at = excluded.added_at, expires_at = NULL",
        query.params,
        tx,
    )
    await refresh.cascade(writer, written, [segment_pk])
    return Added(count, sample)


async def effective_members(
    tx: BaseDBAsyncClient, *, site_id: int, into: int, of: int, now: datetime
) -> Added:
    """List in segment ``into`` the effective members of segment ``of`` at ``now``."""
    writer = kept.Writer(tx, site_id, now)
    await lock.ensure_site(site_id, tx, now)
    cat = await catalogue.get(site_id, connection=tx)
    query = Query([site_id])
    members = effective_select(cat, of, query, now)
    added_at = query.bind(ts(now, tx))
    # the copy lists members, not companies: who came through a company is MANUAL there
    await fetch(
        "INSERT INTO segment_members (site_id, segment_id, member_id, source, added_at,"
        f" expires_at) SELECT $1, {int(into)}, f.member_id, CASE f.source"
        f" WHEN 'COMPANY' THEN 'MANUAL' ELSE f.source END, {added_at}, NULL"
        f" FROM ({members}) f",
        query.params,
        tx,
    )
    await refresh.cascade(writer, await flips.all_listed(writer, into), [into])
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM segment_members WHERE segment_id = $1", [into], tx
    )
    count = int(rows[0]["n"])
    sample: list[str] = []
    if count:
        sample = await _sample(
            tx, f"SELECT member_id FROM segment_members WHERE segment_id = {int(into)}", []
        )
    return Added(count, sample)


async def _sample(tx: BaseDBAsyncClient, members: str, params: list[Any]) -> list[str]:
    """The external ids of the first members (by row id) the statement selects."""
    rows = await fetch(
        f"SELECT s.external_id FROM members s WHERE s.id IN ({members})"
        f" ORDER BY s.id LIMIT {SAMPLE}",
        params,
        tx,
    )
    return [str(r["external_id"]) for r in rows]
