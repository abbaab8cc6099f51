"""Feature flags: create, read, update (merge), delete; their target segments; and the one
query flag evaluation needs (`live_targets`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.checks import check_description
from app.db import fetch, ts
from app.errors import DomainError, ErrorCode, not_found
from app.flags.models import FeatureFlag, FlagSegment
from app.ids import named_pks, refuse_unknown
from app.listing import Listing, related
from app.segments.models import Segment

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")
MAX_TARGETS = 1000


@dataclass
class FlagData:
    key: str
    description: str | None = None
    enabled: bool = True
    segment_ids: Sequence[str] = field(default_factory=list)


@dataclass(frozen=True)
class LiveFlag:
    """A flag as evaluation sees it: its live (ACTIVE) target segments only."""

    pk: int
    key: str
    enabled: bool
    segment_pks: tuple[int, ...]


async def get(*, site_id: int, key: str) -> FeatureFlag | None:
    return await FeatureFlag.filter(site_id=site_id, key=key).first()


# the site's flags in key order
FLAGS = Listing(lambda site_id: FeatureFlag.filter(site_id=site_id), "key")


def _check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise DomainError(
            ErrorCode.INVALID,
            "key must be 1 to 100 of letters, digits, '_', '-', '.' and ':',"
            " starting with a letter or digit",
            ["key"],
        )
    return key


async def _target_pks(tx: BaseDBAsyncClient, site_id: int, segment_ids: Sequence[str]) -> list[int]:
    """The row ids of the caller's segments the ids name; any other id is NOT_FOUND."""
    path = ["segment_ids"]
    pks = named_pks(segment_ids, limit=MAX_TARGETS, noun="segments", field=path, per=" per flag")
    wanted = [pk for pk in pks.values() if pk is not None]
    found: set[int] = set()
    if wanted:
        qs = Segment.filter(site_id=site_id, id__in=wanted).using_db(tx)
        rows: list[Any] = await qs.values_list("id", flat=True)
        found = {int(r) for r in rows}
    refuse_unknown(pks, found, "segment", path)
    return [pk for pk in pks.values() if pk is not None]


async def _set_targets(
    tx: BaseDBAsyncClient, site_id: int, flag_pk: int, segment_pks: Sequence[int]
) -> None:
    await FlagSegment.filter(flag_id=flag_pk).using_db(tx).delete()
    if segment_pks:
        await FlagSegment.bulk_create(
            [FlagSegment(site_id=site_id, flag_id=flag_pk, segment_id=pk) for pk in segment_pks],
            using_db=tx,
        )


def _target_deleted() -> DomainError:
    return DomainError(
        ErrorCode.CONFLICT,
        "a target segment was deleted while the flag was saved; try again",
        ["segment_ids"],
    )


async def _create_race(site_id: int, key: str) -> DomainError:
    """What a unique or foreign-key failure of a create meant: the key taken meanwhile by a
    concurrent create, or a target segment deleted meanwhile."""
    if await FeatureFlag.filter(site_id=site_id, key=key).exists():
        return DomainError(
            ErrorCode.ALREADY_EXISTS, f"a flag with key {key!r} already exists", ["key"]
        )
    return _target_deleted()


async def create(*, site_id: int, data: FlagData) -> FeatureFlag:
    """Create a flag with its target segments, in one transaction."""
    key = _check_key(data.key)
    check_description(data.description, ["description"])
    try:
        async with in_transaction() as tx:
            if await FeatureFlag.filter(site_id=site_id, key=key).using_db(tx).exists():
                raise DomainError(
                    ErrorCode.ALREADY_EXISTS,
                    f"a flag with key {key!r} already exists",
                    ["key"],
                )
            targets = await _target_pks(tx, site_id, data.segment_ids)
            flag = await FeatureFlag.create(
                using_db=tx,
                site_id=site_id,
                key=key,
                description=data.description,
                enabled=data.enabled,
            )
            await _set_targets(tx, site_id, flag.id, targets)
    except IntegrityError as exc:
        raise await _create_race(site_id, key) from exc
    return flag


_UPDATABLE = ("description", "enabled", "segment_ids")


async def update(*, site_id: int, key: str, changes: dict[str, Any]) -> FeatureFlag:
    """Merge changes into a flag: absent keys stay; segment_ids replaces the whole set."""
    unknown = set(changes) - set(_UPDATABLE)
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    for required, graphql_name in (("enabled", "enabled"), ("segment_ids", "segmentIds")):
        if required in changes and changes[required] is None:
            raise DomainError(ErrorCode.INVALID, f"{graphql_name} cannot be null", [required])
    if "description" in changes:
        check_description(changes["description"], ["description"])
    try:
        async with in_transaction() as tx:
            flag = (
                await FeatureFlag.filter(site_id=site_id, key=key)
                .using_db(tx)
                .select_for_update()
                .first()
            )
            if flag is None:
                raise not_found("flag", key, ["key"])
            if "segment_ids" in changes:
                targets = await _target_pks(tx, site_id, changes["segment_ids"])
                await _set_targets(tx, site_id, flag.id, targets)
            if "description" in changes:
                flag.description = changes["description"]
            if "enabled" in changes:
                flag.enabled = changes["enabled"]
            await flag.save(using_db=tx)
    except IntegrityError as exc:  # a target segment deleted meanwhile
        raise _target_deleted() from exc
    return flag


async def delete(*, site_id: int, key: str) -> int:
    """Delete a flag; its segments stay."""
    async with in_transaction() as tx:
        flag = await FeatureFlag.filter(site_id=site_id, key=key).using_db(tx).first()
        if flag is None:
            raise not_found("flag", key, ["key"])
        pk: int = flag.id
        await flag.delete(using_db=tx)
    return pk


async def segments_of_flags(*, site_id: int, flag_pks: Sequence[int]) -> dict[int, list[Segment]]:
    """The target segments of each flag, in name order; two statements for any number of flags."""
    links = await FlagSegment.filter(site_id=site_id, flag_id__in=list(flag_pks)).values_list(
        "flag_id", "segment_id"
    )
    return await related(flag_pks, links, Segment.filter(site_id=site_id).order_by("name"))


async def flags_of_segments(
    *, site_id: int, segment_pks: Sequence[int]
) -> dict[int, list[FeatureFlag]]:
    """The flags targeting each segment, in key order; two statements for any number."""
    links = await FlagSegment.filter(site_id=site_id, segment_id__in=list(segment_pks)).values_list(
        "segment_id", "flag_id"
    )
    return await related(segment_pks, links, FeatureFlag.filter(site_id=site_id).order_by("key"))


async def live_targets(
    *, site_id: int, keys: Sequence[str] | None = None, now: datetime | None = None
) -> list[LiveFlag]:
    """Every flag of the site (or those of the keys asked that exist), in key order, each with
    the target segments that are ACTIVE at `now`: one statement whatever the number of flags
    and segments. What flag evaluation reads before asking the membership engine."""
    now = now or datetime.now(UTC)
    params: list[Any] = [site_id, ts(now)]
    where = ""
    if keys is not None:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return []
        where = " AND f.key IN (" + ", ".join(f"${i + 3}" for i in range(len(wanted))) + ")"
        params.extend(wanted)
    rows = await fetch(
        "SELECT f.id, f.key, f.enabled, s.id AS segment_id"
        " FROM feature_flags f"
        " LEFT JOIN flag_segments fs ON fs.flag_id = f.id AND fs.site_id = $1"
        " LEFT JOIN segments s ON s.id = fs.segment_id AND s.site_id = $1 AND s.is_active"
        "  AND s.archived_at IS NULL"
        "  AND (s.starts_at IS NULL OR s.starts_at <= $2)"
        "  AND (s.ends_at IS NULL OR s.ends_at > $2)"
        f" WHERE f.site_id = $1{where}"
        " ORDER BY f.key, s.id",
        params,
    )
    flags: dict[int, tuple[str, bool, list[int]]] = {}
    for row in rows:
        pk = int(row["id"])
        entry = flags.setdefault(pk, (row["key"], bool(row["enabled"]), []))
        if row["segment_id"] is not None:
            entry[2].append(int(row["segment_id"]))
    return [
        LiveFlag(pk=pk, key=key, enabled=enabled, segment_pks=tuple(targets))
        for pk, (key, enabled, targets) in flags.items()
    ]
