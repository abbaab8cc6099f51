"""Use cases that change membership: one transaction each, with audit events and
idempotency; the set-based SQL itself lives in app.memberships.bulk."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient

from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.events.models import EventKind
from app.idempotency import service as idempotency
from app.memberships import bulk
from app.memberships.bulk import ChangeResult, Mode
from app.segments import service as segments
from app.settings import get_settings

MAX_UNKNOWN_IDS = 1000
T = TypeVar("T")


@dataclass
class Outcome:
    """What a membership change did, as the payload reports it."""

    segment_id: int | None
    added: int = 0
    removed: int = 0
    unchanged: int = 0
    unknown_ids: list[str] = dataclasses.field(default_factory=list)
    unknown_count: int = 0

    def absorb(self, result: ChangeResult) -> None:
        self.added += result.added
        self.removed += result.removed
        self.unchanged += result.unchanged
        room = MAX_UNKNOWN_IDS - len(self.unknown_ids)
        self.unknown_ids.extend(result.unknown_ids[: max(room, 0)])
        self.unknown_count += result.unknown_count

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        return cls(**data)


def check_size(count: int, path: Sequence[str]) -> None:
    """Refuse a request over the per-request id limit before anything is read or written."""
    limit = get_settings().max_bulk_ids
    if count > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{count} ids is over the limit of {limit} per request; use importMembers",
            path,
        )


async def _segment(
    tx: BaseDBAsyncClient, site_id: int, segment_id: str, path: Sequence[str]
) -> int:
    segment = await segments.get_or_fail(
        site_id=site_id, segment_id=segment_id, field=path, connection=tx
    )
    pk: int = segment.id
    return pk


async def _audit(
    tx: BaseDBAsyncClient,
    *,
    site_id: int,
    segment_pk: int,
    actor: str,
    result: ChangeResult,
    kinds: tuple[EventKind, EventKind],
) -> None:
    added_kind, removed_kind = kinds
    if result.added:
        await events.record(
            tx,
            site_id=site_id,
            segment_id=segment_pk,
            kind=added_kind,
            actor=actor,
            count=result.added,
            sample_ids=result.added_sample,
        )
    if result.removed:
        await events.record(
            tx,
            site_id=site_id,
            segment_id=segment_pk,
            kind=removed_kind,
            actor=actor,
            count=result.removed,
            sample_ids=result.removed_sample,
        )


MEMBER_EVENTS = (EventKind.MEMBERS_ADDED, EventKind.MEMBERS_REMOVED)
COMPANY_EVENTS = (EventKind.COMPANIES_ADDED, EventKind.COMPANIES_REMOVED)
EXCLUSION_EVENTS = (EventKind.MEMBERS_EXCLUDED, EventKind.EXCLUSIONS_REMOVED)


async def _on_one_segment(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    operation: str,
    request: dict[str, Any],
    change: Callable[[BaseDBAsyncClient, int, datetime], Awaitable[ChangeResult]],
    kinds: tuple[EventKind, EventKind],
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> Outcome:
    """One change of one segment: found in the site, locked, changed, audited, remembered."""

    async def work(tx: BaseDBAsyncClient) -> dict[str, Any]:
        pk = await _segment(tx, site_id, segment_id, ["input", "segmentId"])
        await bulk.lock_segment(tx, pk)
        result = await change(tx, pk, datetime.now(UTC))
        if not dry_run:
            await _audit(
                tx, site_id=site_id, segment_pk=pk, actor=actor, result=result, kinds=kinds
            )
        outcome = Outcome(segment_id=pk)
        outcome.absorb(result)
        return outcome.to_json()

    payload = await idempotency.run_once(
        site_id=site_id,
        key=idempotency_key,
        operation=operation,
        request={"segmentId": segment_id, **request},
        work=work,
        store=not dry_run,  # a dry run changed nothing, so there is nothing to replay
    )
    return Outcome.from_json(payload)


async def update_members(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    member_ids: Sequence[str],
    mode: Mode,
    create_missing: bool = False,
    expires_at: datetime | None = None,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> Outcome:
    check_size(len(member_ids), ["input", "memberIds"])
    if expires_at is not None and mode is Mode.DELETE:
        raise DomainError(
            ErrorCode.INVALID, "expiresAt goes with ADD or OVERRIDE", ["input", "expiresAt"]
        )

    async def change(tx: BaseDBAsyncClient, pk: int, now: datetime) -> ChangeResult:
        return await bulk.change_members(
            tx,
            site_id=site_id,
            segment_id=pk,
            external_ids=member_ids,
            mode=mode,
            expires_at=expires_at,
            create_missing=create_missing,
            dry_run=dry_run,
            now=now,
        )

    request = {
        "memberIds": list(member_ids),
        "mode": mode.value,
        "createMissing": create_missing,
        "expiresAt": expires_at,
        "dryRun": dry_run,
    }
    return await _on_one_segment(
        site_id=site_id,
        actor=actor,
        segment_id=segment_id,
        operation="updateSegmentMembers",
        request=request,
        change=change,
        kinds=MEMBER_EVENTS,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )


async def update_companies(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    company_ids: Sequence[str],
    mode: Mode,
    dry_run: bool = False,
    idempotency_key: str | None = None,
) -> Outcome:
    check_size(len(company_ids), ["input", "companyIds"])

    async def change(tx: BaseDBAsyncClient, pk: int, now: datetime) -> ChangeResult:
        return await bulk.change_companies(
            tx,
            site_id=site_id,
            segment_id=pk,
            external_ids=company_ids,
            mode=mode,
            dry_run=dry_run,
            now=now,
        )

    request = {"companyIds": list(company_ids), "mode": mode.value, "dryRun": dry_run}
    return await _on_one_segment(
        site_id=site_id,
        actor=actor,
        segment_id=segment_id,
        operation="updateSegmentCompanies",
        request=request,
        change=change,
        kinds=COMPANY_EVENTS,
        dry_run=dry_run,
        idempotency_key=idempotency_key,
    )


async def update_exclusions(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    member_ids: Sequence[str],
    mode: Mode,
    idempotency_key: str | None = None,
) -> Outcome:
    check_size(len(member_ids), ["input", "memberIds"])

    async def change(tx: BaseDBAsyncClient, pk: int, now: datetime) -> ChangeResult:
        return await bulk.change_exclusions(
            tx, site_id=site_id, segment_id=pk, external_ids=member_ids, mode=mode, now=now
        )

    return await _on_one_segment(
        site_id=site_id,
        actor=actor,
        segment_id=segment_id,
        operation="updateSegmentExclusions",
        request={"memberIds": list(member_ids), "mode": mode.value},
        change=change,
        kinds=EXCLUSION_EVENTS,
        idempotency_key=idempotency_key,
    )


async def move_members(
    *,
    site_id: int,
    actor: str,
    from_segment_id: str,
    to_segment_id: str | None,
    member_ids: Sequence[str] | None,
    idempotency_key: str | None = None,
) -> Outcome:
    """Members leave one segment and join another (or only leave), in one transaction.

    The outcome's removed counts those who left the source; added and unchanged, those
    who joined or were already in the target."""
    if member_ids is not None:
        check_size(len(member_ids), ["input", "memberIds"])

    async def work(tx: BaseDBAsyncClient) -> dict[str, Any]:
        source = await _segment(tx, site_id, from_segment_id, ["input", "fromSegmentId"])
        target = None
        if to_segment_id is not None:
            target = await _segment(tx, site_id, to_segment_id, ["input", "toSegmentId"])
            if target == source:
                raise DomainError(
                    ErrorCode.INVALID,
                    "toSegmentId must differ from fromSegmentId",
                    ["input", "toSegmentId"],
                )
        for pk in sorted({source, *([target] if target else [])}):  # one lock order: no deadlock
            await bulk.lock_segment(tx, pk)
        removed, added = await bulk.move_members(
            tx,
            site_id=site_id,
            from_segment_id=source,
            to_segment_id=target,
            external_ids=member_ids,
            now=datetime.now(UTC),
        )
        await _audit(
            tx, site_id=site_id, segment_pk=source, actor=actor, result=removed, kinds=MEMBER_EVENTS
        )
        outcome = Outcome(segment_id=target or source)
        outcome.removed = removed.removed
        outcome.unknown_ids = removed.unknown_ids[:MAX_UNKNOWN_IDS]
        outcome.unknown_count = removed.unknown_count
        if added is not None and target is not None:
            await _audit(
                tx,
                site_id=site_id,
                segment_pk=target,
                actor=actor,
                result=added,
                kinds=MEMBER_EVENTS,
            )
            outcome.added = added.added
            outcome.unchanged = added.unchanged
        else:
            outcome.unchanged = removed.unchanged
        return outcome.to_json()

    request = {
        "fromSegmentId": from_segment_id,
        "toSegmentId": to_segment_id,
        "memberIds": None if member_ids is None else list(member_ids),
    }
    payload = await idempotency.run_once(
        site_id=site_id,
        key=idempotency_key,
        operation="moveSegmentMembers",
        request=request,
        work=work,
    )
    return Outcome.from_json(payload)


@dataclass
class Change:
    segment_id: str
    mode: Mode
    member_ids: Sequence[str] | None
    company_ids: Sequence[str] | None


async def apply_changes(
    *, site_id: int, actor: str, changes: Sequence[Change], idempotency_key: str | None = None
) -> list[Outcome]:
    """Several changes over several segments: all apply, in order, or none does."""
    check_size(
        sum(len(c.member_ids or []) + len(c.company_ids or []) for c in changes), ["changes"]
    )
    for i, c in enumerate(changes):
        if c.member_ids is None and c.company_ids is None:
            raise DomainError(
                ErrorCode.INVALID, "a change needs memberIds or companyIds", ["changes", str(i)]
            )

    async def work(tx: BaseDBAsyncClient) -> list[dict[str, Any]]:
        pks = [
            await _segment(tx, site_id, c.segment_id, ["changes", str(i), "segmentId"])
            for i, c in enumerate(changes)
        ]
        for pk in sorted(set(pks)):
            await bulk.lock_segment(tx, pk)
        now = datetime.now(UTC)
        outcomes = []
        for pk, c in zip(pks, changes, strict=True):
            outcome = Outcome(segment_id=pk)
            if c.member_ids is not None:
                result = await bulk.change_members(
                    tx,
                    site_id=site_id,
                    segment_id=pk,
                    external_ids=c.member_ids,
                    mode=c.mode,
                    now=now,
                )
                await _audit(
                    tx,
                    site_id=site_id,
                    segment_pk=pk,
                    actor=actor,
                    result=result,
                    kinds=MEMBER_EVENTS,
                )
                outcome.absorb(result)
            if c.company_ids is not None:
                result = await bulk.change_companies(
                    tx,
                    site_id=site_id,
                    segment_id=pk,
                    external_ids=c.company_ids,
                    mode=c.mode,
                    now=now,
                )
                await _audit(
                    tx,
                    site_id=site_id,
                    segment_pk=pk,
                    actor=actor,
                    result=result,
                    kinds=COMPANY_EVENTS,
                )
                outcome.absorb(result)
            outcomes.append(outcome.to_json())
        return outcomes

    request = [dataclasses.asdict(c) | {"mode": c.mode.value} for c in changes]
    payload = await idempotency.run_once(
        site_id=site_id,
        key=idempotency_key,
        operation="applyMembershipChanges",
        request=request,
        work=work,
    )
    return [Outcome.from_json(p) for p in payload]
