"""The membership use cases: each checks its request, then runs its steps through the one
membership path (app.memberships.path) in one transaction, with its idempotency key.

Errors name the request's parts in domain terms (``segment``, ``members``, ``companies``,
``expiry``, ``source``, ``target``, ``changes``); the GraphQL layer maps them to argument
paths.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from app.errors import DomainError, ErrorCode
from app.idempotency.service import Once
from app.memberships import path
from app.memberships.bulk import Mode
from app.memberships.path import ListChange, Lists, Move, Outcome, RuleMatches
from app.settings import get_settings

__all__ = [
    "Change",
    "Lists",
    "Mode",
    "Outcome",
    "apply_changes",
    "check_size",
    "include_eligible",
    "update_list",
]


def check_size(count: int, where: Sequence[str]) -> None:
    """Refuse a request over the per-request id limit before anything is read or written."""
    limit = get_settings().max_bulk_ids
    if count > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{count} ids is over the limit of {limit} per request; use importMembers",
            where,
        )


async def _one(
    site_id: int,
    actor: str,
    step: path.Step,
    remembered: tuple[str, Mapping[str, object], str | None],
    dry_run: bool = False,
) -> Outcome:
    """One step in its own transaction; ``remembered`` is (operation, request, key)."""
    operation, request, key = remembered
    once = Once.of(site_id=site_id, key=key, operation=operation, request=request)
    outcomes = await path.run(
        site_id=site_id, actor=actor, steps=[step], once=once, dry_run=dry_run
    )
    return outcomes[0]


# each list's update: the mutation its idempotency key is remembered under, the request's
# name of its ids, the options it takes besides them, and the domain term of its ids
_UPDATES: dict[Lists, tuple[str, str, tuple[str, ...], str]] = {
    Lists.MEMBERS: (
        "updateSegmentMembers",
        "memberIds",
        ("createMissing", "expiresAt", "dryRun"),
        "members",
    ),
    Lists.COMPANIES: ("updateSegmentCompanies", "companyIds", ("dryRun",), "companies"),
    Lists.EXCLUSIONS: ("updateSegmentExclusions", "memberIds", (), "members"),
}


async def update_list(
    *,
    site_id: int,
    actor: str,
    lists: Lists,
    segment_id: str,
    ids: Sequence[str],
    mode: Mode,
    create_missing: bool = False,
    expires_at: datetime | None = None,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> Outcome:
    """ADD, OVERRIDE or DELETE ids in one list of a segment (``create_missing`` and
    ``expires_at``: the members list only; ``dry_run``: not the exclusions)."""
    operation, ids_name, options, term = _UPDATES[lists]
    check_size(len(ids), [term])
    if expires_at is not None and mode is Mode.DELETE:
        raise DomainError(ErrorCode.INVALID, "expiresAt goes with ADD or OVERRIDE", ["expiry"])
    step = ListChange(
        segment_id, lists, ids, mode, expires_at=expires_at, create_missing=create_missing
    )
    given = {"createMissing": create_missing, "expiresAt": expires_at, "dryRun": dry_run}
    request: dict[str, object] = {"segmentId": segment_id, ids_name: list(ids), "mode": mode.value}
    request |= {option: given[option] for option in options}
    remembered = (operation, request, idempotency_key)
    return await _one(site_id, actor, step, remembered, dry_run)


async def move_members(
    *,
    site_id: int,
    actor: str,
    from_segment_id: str,
    to_segment_id: str | None,
    member_ids: Sequence[str] | None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Members leave one segment and join another (or only leave), in one transaction."""
    if member_ids is not None:
        check_size(len(member_ids), ["members"])
    request = {
        "fromSegmentId": from_segment_id,
        "toSegmentId": to_segment_id,
        "memberIds": None if member_ids is None else list(member_ids),
    }
    step = Move(from_segment_id, to_segment_id, member_ids)
    remembered = ("moveSegmentMembers", request, idempotency_key)
    return await _one(site_id, actor, step, remembered)


async def include_eligible(*, site_id: int, actor: str, segment_id: str) -> Outcome:
    """List every member the STATIC segment's rule matches who is not a member yet (RULE)."""
    outcomes = await path.run(site_id=site_id, actor=actor, steps=[RuleMatches(segment_id)])
    return outcomes[0]


@dataclass
class Change:
    segment_id: str
    mode: Mode
    member_ids: Sequence[str] | None
    company_ids: Sequence[str] | None


def _check_batch(changes: Sequence[Change]) -> None:
    """Refuse a batch over the limits before anything is read or written."""
    limit = get_settings().max_batch_changes
    if len(changes) > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{len(changes)} changes is over the limit of {limit} per request",
            ["changes"],
        )
    check_size(
        sum(len(c.member_ids or []) + len(c.company_ids or []) for c in changes), ["changes"]
    )
    for i, c in enumerate(changes):
        if c.member_ids is None and c.company_ids is None:
            raise DomainError(
                ErrorCode.INVALID, "a change needs memberIds or companyIds", ["changes", str(i)]
            )


async def apply_changes(
    *, site_id: int, actor: str, changes: Sequence[Change], idempotency_key: str | None = None
) -> list[Outcome]:
    """Several changes over several segments: all apply, in order, or none does."""
    _check_batch(changes)
    steps: list[path.Step] = []
    ends = []  # where each change's steps end: a change of members and companies is two
    for i, c in enumerate(changes):
        where = ("changes", str(i), "segment")
        for ids, lists in ((c.member_ids, Lists.MEMBERS), (c.company_ids, Lists.COMPANIES)):
            if ids is not None:
                steps.append(ListChange(c.segment_id, lists, ids, c.mode, where=where))
        ends.append(len(steps))
    request = [dataclasses.asdict(c) | {"mode": c.mode.value} for c in changes]
    once = Once.of(
        site_id=site_id, key=idempotency_key, operation="applyMembershipChanges", request=request
    )
    results = await path.run(site_id=site_id, actor=actor, steps=steps, once=once, batch=True)
    if len(results) == len(changes):  # one step a change (or a replay, one outcome a change)
        return results
    outcomes, start = [], 0
    for end in ends:
        merged = Outcome(segment_id=results[start].segment_id)
        for r in results[start:end]:
            merged.added += r.added
            merged.removed += r.removed
            merged.unchanged += r.unchanged
            merged.unknown_ids = (merged.unknown_ids + r.unknown_ids)[: path.MAX_UNKNOWN_IDS]
            merged.unknown_count += r.unknown_count
        outcomes.append(merged)
        start = end
    return outcomes
