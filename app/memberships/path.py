"""One path for a membership change.

Every writer of listed members, companies and exclusions goes through here: the membership
mutations, includeEligibleMembers, freezeSegment, the last step of an import and
createSegment's initial lists. The path finds the segments a change names in the caller's
site and locks each of them once (one statement, in id order: no deadlock, and no lock per
change however many changes a batch holds), applies each step set-based
(app.memberships.bulk), and writes its audit through one function per event kind
(app.memberships.audit), all on the caller's transaction.

`run` is the use case around it: it opens the transaction, replays or remembers the outcome
for an idempotency key, and retries once when a concurrent request with the same key
committed first.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app import db
from app.errors import DomainError, ErrorCode, not_found
from app.idempotency import service as idempotency
from app.memberships import audit, bulk, lock, move, snapshot
from app.memberships.bulk import ChangeResult, Mode
from app.memberships.models import ListedSource

MAX_UNKNOWN_IDS = 1000


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


class Lists(enum.Enum):
    """The three lists of a segment a change can write, with the audit of each."""

    MEMBERS = ("members_added", "members_removed")
    COMPANIES = ("companies_added", "companies_removed")
    EXCLUSIONS = ("members_excluded", "exclusions_removed")

    async def record(self, trail: audit.Audit, result: ChangeResult) -> None:
        added: audit.Recorder = getattr(audit, self.value[0])
        removed: audit.Recorder = getattr(audit, self.value[1])
        await added(trail, result.added, result.added_sample)
        await removed(trail, result.removed, result.removed_sample)


Ref = str | int  # an opaque segment id to find in the site, or the pk of one the caller holds
Where = tuple[str, ...]  # names the segment in the request, in domain terms


@dataclass(frozen=True)
class ListChange:
    """ADD, OVERRIDE or DELETE ids in one list of one segment."""

    segment: Ref
    lists: Lists
    ids: Sequence[str]
    mode: Mode
    where: Where = ("segment",)
    source: ListedSource = ListedSource.MANUAL
    expires_at: datetime | None = None
    create_missing: bool = False
    # createSegment's initial lists: an id naming nothing refuses the whole change
    unknown_is_error: bool = False


@dataclass(frozen=True)
class Move:
    """Listed members leave one segment and join another (or only leave)."""

    source: Ref
    target: Ref | None
    ids: Sequence[str] | None


@dataclass(frozen=True)
class RuleMatches:
    """A STATIC segment lists every member its rule matches who is not a member yet."""

    segment: Ref
    where: Where = ("segment",)


@dataclass(frozen=True)
class Snapshot:
    """A new segment lists another's effective members of now (freezeSegment)."""

    into: int
    of: int


Step = ListChange | Move | RuleMatches | Snapshot


def _refs(step: Step) -> list[tuple[Ref, Where]]:
    if isinstance(step, Move):
        found: list[tuple[Ref, Where]] = [(step.source, ("source",))]
        return found + ([(step.target, ("target",))] if step.target is not None else [])
    if isinstance(step, Snapshot):
        return [(step.into, ("segment",))]
    return [(step.segment, step.where)]


async def find_and_lock(
    connection: BaseDBAsyncClient, *, site_id: int, refs: Sequence[tuple[Ref, Where]]
) -> dict[Ref, int]:
    """Each distinct segment the refs name in the site, found and locked by one statement (in
    id order, so that two writers cannot deadlock; SQLite serialises writers anyway). The
    first ref naming no segment of the site is refused (NOT_FOUND, at its place)."""
    wanted = {ref: ref if isinstance(ref, int) else db.parse_pk(ref) for ref, _ in refs}
    pks = sorted({pk for pk in wanted.values() if pk is not None})
    found: set[int] = set()
    if pks:
        ids = db.Params(connection)
        rows = await db.fetch(
            f"SELECT id FROM segments WHERE site_id = {ids.add(site_id, 'bigint')}"
            f" AND {db.any_of('id', ids.ids(pks), connection, 'bigint')}"
            f" ORDER BY id{db.for_update(connection)}",
            ids.values,
            connection,
        )
        found = {int(r["id"]) for r in rows}
    located: dict[Ref, int] = {}
    for ref, where in refs:
        pk = wanted[ref]
        if pk is None or pk not in found:
            raise not_found("segment", str(ref), where)
        located[ref] = pk
    return located


async def change(
    connection: BaseDBAsyncClient,
    *,
    site_id: int,
    actor: str,
    steps: Sequence[Step],
    dry_run: bool = False,
) -> list[Outcome]:
    """The path, on the caller's transaction: find and lock the segments once, apply each
    step in order, audit it (not on a dry run, which changes nothing); one outcome a step."""
    now = datetime.now(UTC)
    if not dry_run:  # the site's membership lock first, then its segments': one order
        await lock.ensure_site(site_id, connection, now)
    pks = await find_and_lock(
        connection, site_id=site_id, refs=[r for step in steps for r in _refs(step)]
    )
    outcomes = []
    for step in steps:
        if isinstance(step, ListChange):
            outcome = await _list_change(
                connection, site_id, actor, pks[step.segment], step, now, dry_run
            )
        elif isinstance(step, Move):
            outcome = await _move(connection, site_id, actor, pks, step, now)
        elif isinstance(step, RuleMatches):
            pk = pks[step.segment]
            added = await snapshot.rule_matches(
                connection, site_id=site_id, segment_pk=pk, where=step.where, now=now
            )
            await _record_added(connection, site_id, actor, pk, added)
            outcome = Outcome(segment_id=pk, added=added.count)
        else:
            added = await snapshot.effective_members(
                connection, site_id=site_id, into=step.into, of=step.of, now=now
            )
            await _record_added(connection, site_id, actor, step.into, added)
            outcome = Outcome(segment_id=step.into, added=added.count)
        outcomes.append(outcome)
    return outcomes


async def _record_added(
    connection: BaseDBAsyncClient, site_id: int, actor: str, pk: int, added: snapshot.Added
) -> None:
    trail = audit.Audit(connection, site_id, pk, actor)
    await audit.members_added(trail, added.count, added.sample)


async def _list_change(
    connection: BaseDBAsyncClient,
    site_id: int,
    actor: str,
    pk: int,
    step: ListChange,
    now: datetime,
    dry_run: bool,
) -> Outcome:
    args: dict[str, Any] = {"site_id": site_id, "segment_id": pk, "now": now}
    if step.lists is not Lists.EXCLUSIONS:
        args["dry_run"] = dry_run
    # bulk.change_members or bulk.change_list, looked up at each call
    change: Callable[..., Awaitable[ChangeResult]]
    if step.lists is Lists.MEMBERS:
        args.update(
            source=step.source, expires_at=step.expires_at, create_missing=step.create_missing
        )
        change = bulk.change_members
    else:
        args["lists"] = step.lists.name.lower()
        change = bulk.change_list
    result: ChangeResult = await change(connection, external_ids=step.ids, mode=step.mode, **args)
    if step.unknown_is_error and result.unknown_count:
        noun = "company" if step.lists is Lists.COMPANIES else "member"
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"{result.unknown_count} {noun} ids name no {noun}: "
            + ", ".join(repr(i) for i in result.unknown_ids[:10]),
            [step.lists.name.lower()],
        )
    if not dry_run:
        await step.lists.record(audit.Audit(connection, site_id, pk, actor), result)
    outcome = Outcome(segment_id=pk)
    outcome.absorb(result)
    return outcome


async def _move(
    connection: BaseDBAsyncClient,
    site_id: int,
    actor: str,
    pks: dict[Ref, int],
    step: Move,
    now: datetime,
) -> Outcome:
    """The outcome's removed counts those who left the source; added and unchanged, those
    who joined or were already in the target."""
    source = pks[step.source]
    target = pks[step.target] if step.target is not None else None
    if target == source:
        raise DomainError(
            ErrorCode.INVALID, "toSegmentId must differ from fromSegmentId", ["target"]
        )
    removed, added = await move.move_members(
        connection,
        site_id=site_id,
        from_segment_id=source,
        to_segment_id=target,
        external_ids=step.ids,
        now=now,
    )
    await Lists.MEMBERS.record(audit.Audit(connection, site_id, source, actor), removed)
    outcome = Outcome(segment_id=target or source, removed=removed.removed)
    outcome.unknown_ids = removed.unknown_ids[:MAX_UNKNOWN_IDS]
    outcome.unknown_count = removed.unknown_count
    if added is not None and target is not None:
        await Lists.MEMBERS.record(audit.Audit(connection, site_id, target, actor), added)
        outcome.added, outcome.unchanged = added.added, added.unchanged
    else:
        outcome.unchanged = removed.unchanged
    return outcome


async def run(
    *,
    site_id: int,
    actor: str,
    steps: Sequence[Step],
    once: idempotency.Once | None = None,
    dry_run: bool = False,
    batch: bool = False,
) -> list[Outcome]:
    """The use case: one transaction that replays a remembered outcome for the idempotency
    key, or changes (the path) and remembers what it did. A dry run is not remembered: it
    changed nothing, so there is nothing to replay."""

    async def attempt() -> list[Outcome]:
        async with in_transaction() as tx:
            if once is not None:
                stored = await once.replay(tx)
                if stored is not None:
                    return [Outcome.from_json(p) for p in _unpack(stored)]
            outcomes = await change(tx, site_id=site_id, actor=actor, steps=steps, dry_run=dry_run)
            if once is not None and not dry_run:
                payload = [o.to_json() for o in outcomes]
                await once.remember(tx, payload if batch else payload[0])
            return outcomes

    return await idempotency.retrying(once, attempt)


def _unpack(stored: Any) -> list[dict[str, Any]]:
    """A batch's stored outcomes are a list; one change's, the outcome alone."""
    return stored if isinstance(stored, list) else [stored]
