"""Every segment of a site as lookups see them, parsed once and cached per site version.

Lookups (isMember, memberSegments, flags) need each segment's type, window and parsed
rule. Reading and parsing them on every request would cost more than the lookup itself,
so each process keeps them per site, keyed by ``sites.segments_version``: every segment
create, update and delete bumps it in the same transaction (``bump``), and one read of
the site row tells any process whether its copy is current.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import as_datetime, execute, fetch, json_value, utc
from app.rules import Node, ast_from_json, parse
from app.rules.evaluate import Check, compile_check
from app.status import SegmentStatus, SegmentType, status_at

_MAX_SITES = 1_000  # sites kept per process; the least recently used one goes first


@dataclass(frozen=True, slots=True)
class SegmentDef:
    pk: int
    name: str
    type: SegmentType
    is_active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    rule: Node | None
    salt: int
    check: Check | None = None  # the rule compiled for the Python evaluator
    # the rest of the row, so that lookups answer Segment fields with no further read
    description: str | None = None
    rule_text: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    archived: bool = False

    @property
    def dynamic(self) -> bool:
        return self.type is SegmentType.DYNAMIC and self.rule is not None

    def status(self, now: datetime) -> SegmentStatus:
        return status_at(self.is_active, self.starts_at, self.ends_at, now, self.archived)


@dataclass(slots=True)
class Catalogue:
    version: int
    by_pk: dict[int, SegmentDef] = field(default_factory=dict)
    by_name: dict[str, SegmentDef] = field(default_factory=dict)
    # the segments whose rule makes members, in pk order
    dynamic: list[SegmentDef] = field(default_factory=list)


_cache: OrderedDict[int, Catalogue] = OrderedDict()
# parsed and compiled rules by (segment pk, rule text, salt): a reload redoes only what changed
_rules: dict[tuple[int, str, int], tuple[Node | None, Check | None]] = {}


async def bump(connection: BaseDBAsyncClient | None, site_id: int) -> None:
    """Mark the site's segments changed; call inside the transaction that changes them."""
    await execute(
        "UPDATE sites SET segments_version = segments_version + 1 WHERE id = $1",
        [site_id],
        connection=connection,
    )


async def version_of(site_id: int, connection: BaseDBAsyncClient | None = None) -> int:
    rows = await fetch(
        "SELECT segments_version FROM sites WHERE id = $1", [site_id], connection=connection
    )
    return int(rows[0]["segments_version"]) if rows else 0


async def get(
    site_id: int, version: int | None = None, connection: BaseDBAsyncClient | None = None
) -> Catalogue:
    """The site's segments as of ``version`` (read from the site row when not given).

    Inside a transaction pass its connection: on SQLite the default one would wait on it."""
    if version is None:
        version = await version_of(site_id, connection)
    cached = _cache.get(site_id)
    if cached is not None and cached.version == version:
        _cache.move_to_end(site_id)
        return cached
    catalogue = await _load(site_id, version, connection)
    _cache[site_id] = catalogue
    _cache.move_to_end(site_id)
    while len(_cache) > _MAX_SITES:
        _cache.popitem(last=False)
    return catalogue


def clear() -> None:
    _cache.clear()
    _rules.clear()


def forget(site_id: int) -> None:
    """Drop the site's cached copy: after a transaction that bumped the version and rolled
    back, a copy cached inside it would answer for the next commit's version."""
    _cache.pop(site_id, None)


async def _load(site_id: int, version: int, connection: BaseDBAsyncClient | None) -> Catalogue:
    rows = await fetch(
        "SELECT id, name, type, is_active, starts_at, ends_at, rule, rule_ast, salt,"
        " description, created_at, updated_at, archived_at"
        " FROM segments WHERE site_id = $1 ORDER BY id",
        [site_id],
        connection=connection,
    )
    catalogue = Catalogue(version=version)
    for row in rows:
        pk = int(row["id"])
        rule, check = _rule(pk, row["rule"], row["rule_ast"], int(row["salt"]))
        segment = SegmentDef(
            pk=pk,
            name=str(row["name"]),
            type=SegmentType(row["type"]),
            is_active=bool(row["is_active"]),
            starts_at=_utc(row["starts_at"]),
            ends_at=_utc(row["ends_at"]),
            rule=rule,
            salt=int(row["salt"]),
            check=check,
            description=row["description"],
            rule_text=row["rule"],
            created_at=_utc(row["created_at"]),
            updated_at=_utc(row["updated_at"]),
            archived=row["archived_at"] is not None,
        )
        catalogue.by_pk[pk] = segment
        catalogue.by_name[segment.name] = segment
        if segment.dynamic:
            catalogue.dynamic.append(segment)
    return catalogue


def _utc(value: Any) -> datetime | None:
    moment = as_datetime(value)
    return None if moment is None else utc(moment)


def _rule(pk: int, text: str | None, stored: Any, salt: int) -> tuple[Node | None, Check | None]:
    """The parsed rule (the stored tree when there is one, else the text parsed) and its
    compiled check, kept for the next reload."""
    if text is None:
        return None, None
    key = (pk, text, salt)
    if key in _rules:
        return _rules[key]
    node: Node | None = ast_from_json(json_value(stored)) if stored is not None else parse(text).ast
    if len(_rules) > 100_000:
        _rules.clear()
    _rules[key] = node, compile_check(node, salt) if node is not None else None
    return _rules[key]
