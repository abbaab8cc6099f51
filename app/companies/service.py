"""Companies: lookups, listing and upserts with attribute merging."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from tortoise.transactions import in_transaction

from app.companies.models import Company
from app.db import cast, json_value, sql, ts
from app.errors import DomainError, ErrorCode, check_each
from app.listing import Listing, containing
from app.members.service import (
    UNSET,
    check_attributes,
    check_external_id,
    check_text,
    merge_attributes,
)
from app.memberships import flips, kept, lock

MAX_NAME_LENGTH = 255
MAX_PLAN_LENGTH = 100


@dataclass
class CompanyData:
    external_id: str
    name: str
    plan: Any = UNSET
    attributes: Any = UNSET
    line: list[str] = field(default_factory=list)


def _check(data: CompanyData) -> None:
    data.external_id = check_external_id(data.external_id, [*data.line, "id"])
    data.name = data.name.strip()
    if not data.name or len(data.name) > MAX_NAME_LENGTH:
        raise DomainError(
            ErrorCode.INVALID,
            f"name must be 1 to {MAX_NAME_LENGTH} characters",
            [*data.line, "name"],
        )
    check_text(data.plan, MAX_PLAN_LENGTH, [*data.line, "plan"])
    check_attributes(data.attributes, [*data.line, "attributes"])


async def get(*, site_id: int, external_id: str) -> Company | None:
    return await Company.filter(site_id=site_id, external_id=external_id).first()


async def get_many(*, site_id: int, external_ids: Sequence[str]) -> list[Company]:
    """The companies with these ids, in the order asked; unknown ids left out."""
    unique = list(dict.fromkeys(external_ids))
    found: dict[str, Company] = {}
    for start in range(0, len(unique), 5000):
        for c in await Company.filter(
            site_id=site_id, external_id__in=unique[start : start + 5000]
        ):
            found[c.external_id] = c
    return [found[i] for i in unique if i in found]


async def by_pks(*, site_id: int, pks: Sequence[int]) -> dict[int, Company | None]:
    rows = await Company.filter(site_id=site_id, id__in=list(pks))
    return {c.id: c for c in rows}


def _search(site_id: int, search: str | None) -> Any:
    return containing(Company.filter(site_id=site_id), search, "external_id", "name")


# the site's companies in id order; search (a filter) matches id and name
COMPANIES = Listing(_search, "external_id")


async def upsert(*, site_id: int, rows: Sequence[CompanyData]) -> tuple[int, int]:
    """Create or update companies; returns (created, updated). All rows apply or none does."""
    check_each(rows, _check)  # every invalid row named at once
    combined: dict[str, CompanyData] = {}
    for row in rows:
        prev = combined.get(row.external_id)
        if prev is not None and row.attributes is UNSET:
            row.attributes = prev.attributes
        elif prev is not None and isinstance(prev.attributes, dict) and row.attributes:
            row.attributes = {**prev.attributes, **row.attributes}
        if prev is not None and row.plan is UNSET:
            row.plan = prev.plan
        combined[row.external_id] = row
    async with in_transaction() as tx:
        now = datetime.now(UTC)
        await lock.ensure_site(site_id, tx, now)
        ids = list(combined)
        existing: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 5000):
            found = (
                await Company.filter(site_id=site_id, external_id__in=ids[start : start + 5000])
                .using_db(tx)
                .values("external_id", "plan", "attributes")
            )
            existing.update({c["external_id"]: c for c in found})
        values: list[list[Any]] = []
        for r in combined.values():
            old = existing.get(r.external_id, {})
            plan = old.get("plan") if r.plan is UNSET else r.plan
            stored = json_value(old.get("attributes")) or {}
            attributes = merge_attributes(stored, None if r.attributes is UNSET else r.attributes)
            stamp: Any = ts(now, tx)
            values.append(
                [
                    site_id,
                    r.external_id,
                    r.name,
                    plan,
                    orjson.dumps(attributes).decode(),
                    stamp,
                    stamp,
                ]
            )
        statement = (
            "INSERT INTO companies (site_id, external_id, name, plan, attributes, created_at,"
            f" updated_at) VALUES ($1, $2, $3, $4, {cast('$5', 'jsonb', tx)}, $6, $7)"
            " ON CONFLICT (site_id, external_id) DO UPDATE SET name = excluded.name,"
            " plan = excluded.plan, attributes = excluded.attributes,"
            " updated_at = excluded.updated_at"
        )
        if values:
            await tx.execute_many(sql(statement, tx), values)
        await flips.companies_upserted(kept.Writer(tx, site_id, now), ids)
    created = sum(1 for i in combined if i not in existing)
    return created, len(combined) - created
