"""Segments: create, read, update (merge), delete; status derived from the clock."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from app.checks import check_description, check_name
from app.db import parse_pk
from app.errors import DomainError, ErrorCode, not_found
from app.events import service as events
from app.events.models import EventKind
from app.listing import Listing
from app.memberships import catalogue, flips, path, rebuild
from app.memberships.bulk import Mode
from app.memberships.changes import check_size
from app.memberships.path import ListChange, Lists, Snapshot
from app.segments.models import NAME_LENGTH, Segment, SegmentStatus, SegmentType, status_at


@dataclass
class SegmentData:
    name: str
    description: str | None = None
    type: SegmentType = SegmentType.STATIC
    is_active: bool = True
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    rule: str | None = None
    member_ids: Sequence[str] = field(default_factory=list)
    company_ids: Sequence[str] = field(default_factory=list)

    def stored(self) -> dict[str, Any]:
        """The columns the segment's row takes as given (the name is checked first, the
        lists are rows of their own)."""
        names = ("description", "type", "is_active", "starts_at", "ends_at", "rule")
        return {name: getattr(self, name) for name in names}


def status_of(segment: Segment, now: datetime | None = None) -> SegmentStatus:
    """The status a segment has now: never stored, so never stale."""
    return status_at(
        segment.is_active,
        segment.starts_at,
        segment.ends_at,
        now or datetime.now(UTC),
        segment.archived_at is not None,
    )


def status_filter(status: SegmentStatus | None, now: datetime) -> Q:
    """The segments with that status now, as a filter (None: all those not archived)."""
    if status is SegmentStatus.ARCHIVED:
        return Q(archived_at__isnull=False)
    in_use = Q(archived_at__isnull=True)
    if status is None:
        return in_use
    if status is SegmentStatus.INACTIVE:
        return in_use & Q(is_active=False)
    if status is SegmentStatus.SCHEDULED:
        return in_use & Q(is_active=True, starts_at__gt=now)
    if status is SegmentStatus.EXPIRED:
        return (
            in_use
            & Q(is_active=True, ends_at__lte=now)
            & (Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        )
    return (
        in_use
        & Q(is_active=True)
        & (Q(starts_at__isnull=True) | Q(starts_at__lte=now))
        & (Q(ends_at__isnull=True) | Q(ends_at__gt=now))
    )


async def get(*, site_id: int, segment_id: str) -> Segment | None:
    pk = parse_pk(segment_id)
    if pk is None:
        return None
    return await Segment.filter(site_id=site_id, id=pk).first()


async def get_or_fail(
    *,
    site_id: int,
    segment_id: str,
    field: Sequence[str],
    connection: BaseDBAsyncClient | None = None,
) -> Segment:
    pk = parse_pk(segment_id)
    segment = None
    if pk is not None:
        qs = Segment.filter(site_id=site_id, id=pk)
        segment = await (qs.using_db(connection) if connection else qs).first()
    if segment is None:
        raise not_found("segment", segment_id, field)
    return segment


async def get_by_name(*, site_id: int, name: str) -> Segment | None:
    if len(name) > NAME_LENGTH:  # names no segment (and the ORM would refuse to ask)
        return None
    return await Segment.filter(site_id=site_id, name=name).first()


async def by_pks(*, site_id: int, pks: Sequence[int]) -> dict[int, Segment]:
    rows = await Segment.filter(site_id=site_id, id__in=list(pks))
    return {s.id: s for s in rows}


def _listing(site_id: int, status: SegmentStatus | None, search: str | None) -> Any:
    qs = Segment.filter(site_id=site_id).filter(status_filter(status, datetime.now(UTC)))
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    return qs


# the site's segments in name order, by status and search (filters)
SEGMENTS = Listing(_listing, "name")


def _check_window(
    starts_at: datetime | None, ends_at: datetime | None, path: Sequence[str]
) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise DomainError(ErrorCode.INVALID, "endsAt must be after startsAt", path)


async def _name_taken(site_id: int, name: str, connection: BaseDBAsyncClient, but: int = 0) -> None:
    if (
        await Segment.filter(site_id=site_id, name=name)
        .exclude(id=but)
        .using_db(connection)
        .exists()
    ):
        raise DomainError(
            ErrorCode.ALREADY_EXISTS, f"a segment named {name!r} already exists", ["name"]
        )


async def create(*, site_id: int, actor: str, data: SegmentData) -> Segment:
    """Create a segment with its initial members and companies, all in one transaction."""
    async with in_transaction() as tx:
        return await create_in(tx, site_id=site_id, actor=actor, data=data)


async def freeze(*, site_id: int, actor: str, segment_id: str, name: str) -> Segment:
    """A new STATIC segment listing the given segment's effective members of now."""
    async with in_transaction() as tx:
        original = await get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["segment"], connection=tx
        )
        now = datetime.now(UTC)
        copy = await create_in(
            tx,
            site_id=site_id,
            actor=actor,
            data=SegmentData(
                name=name,
                description=f"Frozen copy of {original.name!r} as of {now.isoformat()}",
            ),
        )
        await path.change(
            tx, site_id=site_id, actor=actor, steps=[Snapshot(into=copy.id, of=original.id)]
        )
    return copy


async def create_in(
    tx: BaseDBAsyncClient, *, site_id: int, actor: str, data: SegmentData
) -> Segment:
    """create, inside the caller's transaction (freeze builds on it)."""
    name = check_name(data.name, ["name"])
    check_description(data.description, ["description"])
    _check_window(data.starts_at, data.ends_at, ["ends_at"])
    check_size(len(data.member_ids), ["member_ids"])
    check_size(len(data.company_ids), ["company_ids"])
    await _name_taken(site_id, name, tx)
    rule_ast = await _checked_rule(site_id, data.rule, name, tx)
    writer = await flips.writer(tx, site_id, datetime.now(UTC))
    try:
        segment = await Segment.create(
            using_db=tx,
            site_id=site_id,
            name=name,
            rule_ast=rule_ast,
            salt=random.randrange(10_000),
            **data.stored(),
        )
    except IntegrityError as exc:  # a concurrent create won the name
        raise DomainError(
            ErrorCode.ALREADY_EXISTS, f"a segment named {name!r} already exists", ["name"]
        ) from exc
    await catalogue.bump(tx, site_id)
    await rebuild.new_segment(writer, segment.id)
    if data.type is SegmentType.DYNAMIC and data.rule is not None:
        await flips.rule_changed(writer, segment.id)
    await events.segment_created(tx, segment, actor=actor)
    await _initial_lists(tx, site_id, actor, segment, data)
    return segment


async def _initial_lists(
    tx: BaseDBAsyncClient, site_id: int, actor: str, segment: Segment, data: SegmentData
) -> None:
    """The new segment's members and companies, through the one membership path; an id that
    names nothing refuses the whole create."""
    steps: list[path.Step] = [
        ListChange(segment.id, lists, ids, Mode.ADD, unknown_is_error=True)
        for ids, lists in ((data.member_ids, Lists.MEMBERS), (data.company_ids, Lists.COMPANIES))
        if ids
    ]
    if steps:
        await path.change(tx, site_id=site_id, actor=actor, steps=steps)


async def _checked_rule(
    site_id: int, rule: str | None, segment_name: str, connection: BaseDBAsyncClient
) -> Any:
    """The stored form of a rule; a bad rule is refused before anything is written."""
    if rule is None:
        return None
    from app.segments.rules import check_rule

    return await check_rule(
        site_id=site_id, rule=rule, segment_name=segment_name, connection=connection
    )


_UPDATABLE = ("name", "description", "type", "is_active", "starts_at", "ends_at", "rule")


async def update(*, site_id: int, actor: str, segment_id: str, changes: dict[str, Any]) -> Segment:
    """Merge changes into a segment: absent keys stay; a None value clears a nullable field."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    for required, graphql_name in (("name", "name"), ("type", "type"), ("is_active", "isActive")):
        if required in changes and changes[required] is None:
            raise DomainError(ErrorCode.INVALID, f"{graphql_name} cannot be null", [required])
    try:
        async with in_transaction() as tx:
            segment = await get_or_fail(
                site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
            )
            writer = await flips.writer(tx, site_id, datetime.now(UTC))
            old_name = segment.name
            if "name" in changes:
                changes["name"] = check_name(changes["name"], ["name"])
                await _name_taken(site_id, changes["name"], tx, but=segment.id)
            if "description" in changes:
                check_description(changes["description"], ["description"])
            _check_window(
                changes.get("starts_at", segment.starts_at),
                changes.get("ends_at", segment.ends_at),
                ["ends_at"],
            )
            name = changes.get("name", segment.name)
            if "rule" in changes:
                changes["rule_ast"] = await _checked_rule(site_id, changes["rule"], name, tx)
            if name != old_name:
                await _refuse_if_named_by_rules(site_id, segment, tx, "renamed", ["name"])
            diff = changed_fields(segment, changes)
            for key, value in changes.items():
                setattr(segment, key, value)
            await segment.save(using_db=tx)
            await catalogue.bump(tx, site_id)
            if "rule" in diff or "type" in diff:
                await flips.rule_changed(writer, segment.id)
            await events.segment_updated(tx, segment, actor=actor, changes=diff)
    except IntegrityError as exc:
        raise DomainError(
            ErrorCode.ALREADY_EXISTS, "a segment with that name already exists", ["name"]
        ) from exc
    return segment


# the audit names fields as the API does
_FIELD_NAMES = {
    "name": "name",
    "description": "description",
    "type": "type",
    "is_active": "isActive",
    "starts_at": "startsAt",
    "ends_at": "endsAt",
    "rule": "rule",
}


def _plain(value: Any) -> Any:
    """A field value as the audit trail stores it (JSON)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, SegmentType):
        return value.value
    return value


def changed_fields(segment: Segment, changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """{"field": {"before": ..., "after": ...}} for each change that alters the segment."""
    diff: dict[str, dict[str, Any]] = {}
    for key, graphql_name in _FIELD_NAMES.items():
        if key not in changes:
            continue
        before, after = _plain(getattr(segment, key)), _plain(changes[key])
        if before != after:
            diff[graphql_name] = {"before": before, "after": after}
    return diff


async def _refuse_if_named_by_rules(
    site_id: int,
    segment: Segment,
    connection: BaseDBAsyncClient,
    verb: str,
    where: Sequence[str] = ("id",),
) -> None:
    """CONFLICT at ``where`` (the segment's id; its new name for a rename) while the rule of
    another segment names it."""
    from app.segments.rules import referrers

    names = await referrers(site_id=site_id, name=segment.name, connection=connection)
    if names:
        raise DomainError(
            ErrorCode.CONFLICT,
            f"segment {segment.name!r} cannot be {verb}: the rules of "
            + ", ".join(repr(n) for n in names)
            + " name it",
            where,
        )


# Called in a segment's delete transaction with (the transaction, site id, segment pk): what
# of another domain names the segment without a foreign key drops it there (webhooks
# register here; a flag's link to it goes with the foreign key).
deleted_listeners: list[Callable[[BaseDBAsyncClient, int, int], Awaitable[None]]] = []


async def delete(*, site_id: int, actor: str, segment_id: str) -> int:
    """Delete a segment with its lists and exclusions; refused while a rule names it or a
    persona uses it (a listener refuses)."""
    async with in_transaction() as tx:
        segment = await get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["id"], connection=tx
        )
        await _refuse_if_named_by_rules(site_id, segment, tx, "deleted")
        pk: int = segment.id
        await flips.segment_deleted(await flips.writer(tx, site_id, datetime.now(UTC)), pk)
        for listener in deleted_listeners:
            await listener(tx, site_id, pk)
        await segment.delete(using_db=tx)
        await catalogue.bump(tx, site_id)
        await events.record(tx, site_id=site_id, segment_id=pk, kind=EventKind.DELETED, actor=actor)
    return pk
