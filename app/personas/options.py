"""Segment options: the values a persona attached to a segment may pick ("EU" of "Region").

A label is unique within its segment; options are listed in position order. Every change is
audited on the segment, in the transaction that makes it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.checks import check_description, check_name
from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.events.models import EventKind
from app.ids import by_id, by_id_or_fail
from app.personas.models import SegmentOption
from app.segments import service as segments

_POSITION_LIMIT = 1_000_000


def _check_position(position: int | None, path: Sequence[str]) -> None:
    if position is not None and not 0 <= position <= _POSITION_LIMIT:
        raise DomainError(
            ErrorCode.INVALID, f"position must be between 0 and {_POSITION_LIMIT}", path
        )


def _taken(label: str) -> DomainError:
    return DomainError(
        ErrorCode.ALREADY_EXISTS,
        f"the segment already has an option labelled {label!r}",
        ["label"],
    )


def as_json(option: SegmentOption) -> dict[str, Any]:
    """An option as the audit trail keeps it."""
    return {"label": option.label, "description": option.description, "position": option.position}


async def _audit(
    tx: BaseDBAsyncClient,
    option: SegmentOption,
    actor: str,
    kind: EventKind,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    diff: dict[str, Any] | None = None,
) -> None:
    """The event of an option's change, on its segment: the option before and after, and
    each field that changed."""
    await events.record(
        tx,
        site_id=option.site_id,
        segment_id=option.segment_id,
        kind=kind,
        actor=actor,
        changes={"option": {"before": before, "after": after}, **(diff or {})},
    )


async def get(
    *, site_id: int, option_id: str, connection: BaseDBAsyncClient | None = None
) -> SegmentOption | None:
    """The site's option with that id; None for an unknown id or another site's."""
    return await by_id(SegmentOption.filter(site_id=site_id), option_id, connection)


async def _get_or_fail(tx: BaseDBAsyncClient, site_id: int, option_id: str) -> SegmentOption:
    return await by_id_or_fail(
        SegmentOption.filter(site_id=site_id), option_id, "option", ["id"], tx
    )


async def create(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    label: str,
    description: str | None = None,
    position: int | None = None,
) -> SegmentOption:
    """Add an option to a segment; with no position it goes after the others."""
    label = check_name(label, ["label"], "label")
    check_description(description, ["description"])
    _check_position(position, ["position"])
    try:
        async with in_transaction() as tx:
            segment = await segments.get_or_fail(
                site_id=site_id, segment_id=segment_id, field=["segment_id"], connection=tx
            )
            siblings = SegmentOption.filter(segment_id=segment.id).using_db(tx)
            if await siblings.filter(label=label).exists():
                raise _taken(label)
            if position is None:
                last = await siblings.order_by("-position").first()
                position = 0 if last is None else last.position + 1
            option = await SegmentOption.create(
                using_db=tx,
                site_id=site_id,
                segment_id=segment.id,
                label=label,
                description=description,
                position=position,
            )
            await _audit(tx, option, actor, EventKind.OPTION_CREATED, None, as_json(option))
    except IntegrityError as exc:  # a concurrent create took the label
        raise _taken(label) from exc
    return option


_UPDATABLE = ("label", "description", "position")


async def update(
    *, site_id: int, actor: str, option_id: str, changes: dict[str, Any]
) -> SegmentOption:
    """Merge changes into an option: absent keys stay; description may be cleared."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    for required in ("label", "position"):
        if required in changes and changes[required] is None:
            raise DomainError(ErrorCode.INVALID, f"{required} cannot be null", [required])
    if "label" in changes:
        changes["label"] = check_name(changes["label"], ["label"], "label")
    if "description" in changes:
        check_description(changes["description"], ["description"])
    _check_position(changes.get("position"), ["position"])
    try:
        async with in_transaction() as tx:
            option = await _get_or_fail(tx, site_id, option_id)
            if "label" in changes and changes["label"] != option.label:
                others = SegmentOption.filter(segment_id=option.segment_id, label=changes["label"])
                if await others.using_db(tx).exists():
                    raise _taken(changes["label"])
            before = as_json(option)
            for key, value in changes.items():
                setattr(option, key, value)
            await option.save(using_db=tx)
            after = as_json(option)
            diff = {
                key: {"before": before[key], "after": after[key]}
                for key in _UPDATABLE
                if before[key] != after[key]
            }
            await _audit(tx, option, actor, EventKind.OPTION_UPDATED, before, after, diff)
    except IntegrityError as exc:
        raise _taken(str(changes.get("label"))) from exc
    return option


async def delete(*, site_id: int, actor: str, option_id: str) -> int:
    """Delete an option; the personas that picked it let go of it."""
    async with in_transaction() as tx:
        option = await _get_or_fail(tx, site_id, option_id)
        pk: int = option.id
        await option.delete(using_db=tx)
        await _audit(tx, option, actor, EventKind.OPTION_DELETED, as_json(option), None)
    return pk


async def of_segments(
    *, site_id: int, segment_pks: Sequence[int]
) -> dict[int, list[SegmentOption]]:
    """Each segment's options in position order: one statement for any number of segments."""
    rows: list[SegmentOption] = await SegmentOption.filter(
        site_id=site_id, segment_id__in=list(segment_pks)
    ).order_by("position", "id")
    found: dict[int, list[SegmentOption]] = {pk: [] for pk in segment_pks}
    for option in rows:
        found[option.segment_id].append(option)
    return found
