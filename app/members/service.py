"""Members: lookups, listing, upserts with attribute merging, deletion."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import any_of, execute, fetch, ids_param, is_postgres, json_value
from app.errors import DomainError, ErrorCode, check_each
from app.listing import Listing, containing
from app.members.models import Member, bucket_of
from app.memberships import catalogue, flips, kept, lock

UNSET: Any = object()  # a field the caller did not send: leave it as it is
MAX_ID_LENGTH = 255
MAX_EMAIL_LENGTH = 320
MAX_NAME_LENGTH = 255
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class MemberData:
    """One member to upsert; UNSET fields keep their stored value."""

    external_id: str
    email: Any = UNSET
    name: Any = UNSET
    company_id: Any = UNSET  # the company's external id, or None to detach
    attributes: Any = UNSET  # a dict merged into the stored one; None values remove keys
    line: list[str] = field(default_factory=list)  # where it came from, for error paths


def check_external_id(value: str, path: Sequence[str]) -> str:
    value = value.strip()
    if not value:
        raise DomainError(ErrorCode.INVALID, "id must not be empty", path)
    if len(value) > MAX_ID_LENGTH:
        raise DomainError(ErrorCode.INVALID, f"id is over {MAX_ID_LENGTH} characters", path)
    return value


def check_row(data: MemberData) -> None:
    """Refuse (DomainError) a row that cannot be stored; trims id and email in place."""
    data.external_id = check_external_id(data.external_id, [*data.line, "id"])
    if isinstance(data.email, str):
        data.email = data.email.strip()
        if len(data.email) > MAX_EMAIL_LENGTH or not _EMAIL.match(data.email):
            raise DomainError(
                ErrorCode.INVALID, f"{data.email!r} is not an email address", [*data.line, "email"]
            )
    check_text(data.name, MAX_NAME_LENGTH, [*data.line, "name"])
    check_attributes(data.attributes, [*data.line, "attributes"])


def check_text(value: Any, limit: int, path: Sequence[str]) -> None:
    """INVALID when a text given (not UNSET, not null) is over ``limit`` characters; the
    message names it by the last term of ``path``."""
    if isinstance(value, str) and len(value) > limit:
        raise DomainError(ErrorCode.INVALID, f"{path[-1]} is over {limit} characters", path)


def check_attributes(value: Any, path: Sequence[str]) -> None:
    """INVALID when attributes are given (not UNSET, not null) and are not a JSON object."""
    if value not in (UNSET, None) and not isinstance(value, dict):
        raise DomainError(ErrorCode.INVALID, "attributes must be a JSON object", path)


def merge_attributes(stored: dict[str, Any], patch: dict[str, Any] | None) -> dict[str, Any]:
    """A patch merged into stored attributes; a null value removes its key."""
    if not patch:
        return stored
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


async def get(*, site_id: int, external_id: str) -> Member | None:
    return await Member.filter(site_id=site_id, external_id=external_id).first()


async def get_many(
    *, site_id: int, external_ids: Sequence[str], connection: BaseDBAsyncClient | None = None
) -> list[Member]:
    """The members with these ids, in the order asked; unknown ids left out."""
    found: dict[str, Member] = {}
    unique = list(dict.fromkeys(external_ids))
    for start in range(0, len(unique), 5000):
        chunk = unique[start : start + 5000]
        query = Member.filter(site_id=site_id, external_id__in=chunk)
        for m in await (query.using_db(connection) if connection else query):
            found[m.external_id] = m
    return [found[i] for i in unique if i in found]


def _search(site_id: int, search: str | None) -> Any:
    return containing(Member.filter(site_id=site_id), search, "external_id", "email", "name")


# the site's members in id order; search (a filter) matches id, email and name
MEMBERS = Listing(_search, "external_id")
# a company's members (filter company_pk), in id order
COMPANY_MEMBERS = Listing(
    lambda site_id, company_pk: Member.filter(site_id=site_id, company_id=company_pk),
    "external_id",
)


# One index probe per id, whatever the planner believes: during a large import the table
# grows faster than its statistics, and a plan made for a small table scans all of it.
_EXISTING_PG = (
    "SELECT m.id, m.external_id, m.email, m.name, m.company_id, m.attributes"
    " FROM unnest($2::text[]) AS t(external_id) CROSS JOIN LATERAL"
    " (SELECT * FROM members x WHERE x.site_id = $1 AND x.external_id = t.external_id LIMIT 1) m"
)
_EXISTING_SQLITE = (
    "SELECT id, external_id, email, name, company_id, attributes FROM members"
    " WHERE site_id = $1 AND external_id IN (SELECT value FROM json_each($2))"
)


async def _company_pks(
    connection: BaseDBAsyncClient, site_id: int, rows: list[MemberData]
) -> dict[str, int]:
    wanted = sorted({r.company_id for r in rows if isinstance(r.company_id, str)})
    if not wanted:
        return {}
    found = await fetch(
        f"SELECT id, external_id FROM companies WHERE site_id = $1"
        f" AND {any_of('external_id', '$2', connection)}",
        [site_id, ids_param(wanted, connection)],
        connection,
    )
    by_id = {str(c["external_id"]): int(c["id"]) for c in found}

    def known(r: MemberData) -> None:
        if isinstance(r.company_id, str) and r.company_id not in by_id:
            raise DomainError(
                ErrorCode.NOT_FOUND, f"company {r.company_id!r} not found", [*r.line, "company_id"]
            )

    check_each(rows, known)
    return by_id


def _combine(rows: Sequence[MemberData]) -> list[MemberData]:
    """Rows naming the same id merge in order, so one call holds one row per member."""
    merged: dict[str, MemberData] = {}
    for row in rows:
        prev = merged.get(row.external_id)
        if prev is None:
            merged[row.external_id] = row
            continue
        for name in ("email", "name", "company_id"):
            if getattr(row, name) is not UNSET:
                setattr(prev, name, getattr(row, name))
        if row.attributes is not UNSET:
            if prev.attributes is UNSET or prev.attributes is None:
                prev.attributes = row.attributes
            elif row.attributes is not None:
                prev.attributes = {**prev.attributes, **row.attributes}
    return list(merged.values())


async def upsert(
    *, site_id: int, rows: Sequence[MemberData], connection: BaseDBAsyncClient | None = None
) -> tuple[int, int]:
    """Create or update members; returns (created, updated). All rows apply or none does."""
    check_each(rows, check_row)  # every invalid row named at once
    combined = _combine(rows)
    if connection is None:
        async with in_transaction() as tx:
            return await _upsert(tx, site_id, combined)
    return await _upsert(connection, site_id, combined)


async def _upsert(
    connection: BaseDBAsyncClient, site_id: int, rows: list[MemberData]
) -> tuple[int, int]:
    now = datetime.now(UTC)
    await lock.ensure_site(site_id, connection, now)
    company_pks = await _company_pks(connection, site_id, rows)
    found = await fetch(
        # (PostgreSQL's own shape: see _EXISTING_PG)
        _EXISTING_PG if is_postgres(connection) else _EXISTING_SQLITE,
        [site_id, ids_param([r.external_id for r in rows], connection)],
        connection,
    )
    existing: dict[str, dict[str, Any]] = {m["external_id"]: m for m in found}
    values: list[list[Any]] = []
    old_companies: list[int | None] = []
    companies: list[int | None] = []
    changed: dict[str, frozenset[str] | None] = {}
    moved = False
    for r in rows:
        old = existing.get(r.external_id, {})
        email = old.get("email") if r.email is UNSET else r.email
        name = old.get("name") if r.name is UNSET else r.name
        if r.company_id is UNSET:
            company = old.get("company_id")
        else:
            company = None if r.company_id is None else company_pks[r.company_id]
        stored = json_value(old.get("attributes")) or {}
        attributes = merge_attributes(stored, None if r.attributes is UNSET else r.attributes)
        old_companies.append(old.get("company_id"))
        companies.append(company)
        moved = moved or old.get("company_id") != company
        changed[r.external_id] = _changed(old, email, name, company, stored, attributes)
        values.append(
            [
                site_id,
                r.external_id,
                email,
                name,
                company,
                orjson.dumps(attributes).decode(),
                bucket_of(r.external_id),
                now,
                now,
            ]
        )
    await _write(connection, values)
    writer = kept.Writer(connection, site_id, now)
    if moved or (await catalogue.get(site_id, connection=connection)).dynamic:
        await flips.members_upserted(
            writer,
            [r.external_id for r in rows],
            old_companies,
            changed,
            pks=[existing.get(r.external_id, {}).get("id") for r in rows],
            companies=companies,
        )
    created = sum(1 for r in rows if r.external_id not in existing)
    return created, len(rows) - created


def _changed(
    old: dict[str, Any],
    email: Any,
    name: Any,
    company: Any,
    stored: dict[str, Any],
    attributes: dict[str, Any],
) -> frozenset[str] | None:
    """The fields (as rules name them) an upsert changes of a member; None for a new one.
    ``updated_at`` always: the upsert sets it."""
    if not old:
        return None
    fields = {"updated_at"}
    if email != old.get("email"):
        fields.add("email")
    if name != old.get("name"):
        fields.add("name")
    if company != old.get("company_id"):
        fields.add("company")
    for key in stored.keys() | attributes.keys():
        if stored.get(key) != attributes.get(key):
            fields.add(f"attributes.{key}")
    return frozenset(fields)


_UPSERT = (
    "INSERT INTO members (site_id, external_id, email, name, company_id, attributes,"
    " bucket, created_at, updated_at) {source}"
    " ON CONFLICT (site_id, external_id) DO UPDATE SET email = excluded.email,"
    " name = excluded.name, company_id = excluded.company_id,"
    " attributes = excluded.attributes, updated_at = excluded.updated_at"
)


async def _write(connection: BaseDBAsyncClient, values: list[list[Any]]) -> None:
    if not values:
        return
    if is_postgres(connection):  # (SQLite has no arrays: executemany below)
        # one statement over column arrays: a few thousand rows cost one round trip
        columns = list(zip(*values, strict=True))
        await execute(
            _UPSERT.format(
                source="SELECT $1::bigint, t.e, t.m, t.n, t.c, t.a::jsonb, t.b, $2::timestamptz,"
                " $2::timestamptz FROM unnest("
                "$3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::smallint[])"
                " AS t(e, m, n, c, a, b)"
            ),
            [values[0][0], values[0][7], *(list(columns[i]) for i in range(1, 7))],
            connection,
        )
        return
    statement = _UPSERT.format(source="VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")
    for v in values:
        v[7] = v[8] = str(v[7])
    await connection.execute_many(statement, values)


async def delete(*, site_id: int, external_ids: Sequence[str]) -> tuple[int, list[str]]:
    """Delete members (their listings go with them); returns (deleted, unknown ids)."""
    unique = list(dict.fromkeys(i.strip() for i in external_ids))
    async with in_transaction() as tx:
        now = datetime.now(UTC)
        await lock.ensure_site(site_id, tx, now)
        found = await get_many(site_id=site_id, external_ids=unique, connection=tx)
        known = {m.external_id for m in found}
        pks = [m.id for m in found]
        await flips.members_deleted(kept.Writer(tx, site_id, now), pks)
        for start in range(0, len(pks), 5000):
            await (
                Member.filter(site_id=site_id, id__in=pks[start : start + 5000])
                .using_db(tx)
                .delete()
            )
    return len(pks), [i for i in unique if i not in known]


async def company_member_counts(*, site_id: int, company_pks: Sequence[int]) -> dict[int, int]:
    if not company_pks:
        return {}
    marks = ", ".join(f"${i + 2}" for i in range(len(company_pks)))
    rows = await fetch(
        f"SELECT company_id, COUNT(*) AS n FROM members WHERE site_id = $1"
        f" AND company_id IN ({marks}) GROUP BY company_id",
        [site_id, *company_pks],
    )
    return {int(r["company_id"]): int(r["n"]) for r in rows}
