"""A persona's members: the members who are effective members of every attached segment.

Set-based in the database: the site's members are scanned once with the conditions of
app/memberships/effective.py joined by AND, one per attached segment, so listed, company,
rule members and exclusions mean exactly what they mean for the segment itself. An attached
segment counts whatever its status (an archived one keeps narrowing the persona, and its
restore changes nothing); a persona with no segment has no member.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import fetch
from app.listing import RowListing
from app.memberships import catalogue
from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.personas.service import segments_of

_MEMBER_COLUMNS = (
    "m.id, m.external_id, m.email, m.name, m.company_id, m.attributes, m.bucket,"
    " m.created_at, m.updated_at"
)


def _condition(conditions: Conditions, segments: list[SegmentDef]) -> str:
    return " AND ".join(conditions.member(s) for s in segments)


def _attached(cat: Catalogue, segment_pks: Sequence[int]) -> list[SegmentDef] | None:
    """The attached segments as the catalogue has them; None when there is none (or one was
    deleted since: its attachment goes with it)."""
    found = [cat.by_pk[pk] for pk in segment_pks if pk in cat.by_pk]
    return found if found and len(found) == len(segment_pks) else None


async def member_counts(*, site_id: int, persona_pks: Sequence[int]) -> dict[int, int]:
    """Members per persona: the attachments, then one scan of the site's members for every
    persona asked (the site's segments come from the cached catalogue)."""
    counts = {pk: 0 for pk in persona_pks}
    attached = await segments_of(site_id=site_id, persona_pks=persona_pks)
    if not any(attached.values()):
        return counts
    cat = await catalogue.get(site_id)
    query = Query([site_id])
    conditions = Conditions(cat, query, datetime.now(UTC))
    wanted: list[tuple[int, list[SegmentDef]]] = []
    for pk in persona_pks:
        segments = _attached(cat, attached[pk])
        if segments is not None:
            wanted.append((pk, segments))
    if not wanted:
        return counts
    source = members_from(any(needs_company(cat, s) for _, ss in wanted for s in ss))
    if len(wanted) == 1:
        select = f"COUNT(*) AS n0 FROM {source} WHERE m.site_id = $1 AND " + _condition(
            conditions, wanted[0][1]
        )
    else:
        sums = ", ".join(
            f"SUM(CASE WHEN {_condition(conditions, segments)} THEN 1 ELSE 0 END) AS n{i}"
            for i, (_, segments) in enumerate(wanted)
        )
        select = f"{sums} FROM {source} WHERE m.site_id = $1"
    row = (await fetch(f"SELECT {select}", query.params))[0]
    counts.update({pk: int(row[f"n{i}"] or 0) for i, (pk, _) in enumerate(wanted)})
    return counts


async def list_members(
    *, site_id: int, persona_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 members of the persona, in member order, after the given member pk."""
    attached = await segments_of(site_id=site_id, persona_pks=[persona_pk])
    if not attached[persona_pk]:
        return []
    cat = await catalogue.get(site_id)
    segments = _attached(cat, attached[persona_pk])
    if segments is None:
        return []
    query = Query([site_id])
    condition = _condition(Conditions(cat, query, datetime.now(UTC)), segments)
    where = f" AND m.id > {query.bind(after)}" if after is not None else ""
    limit = query.bind(first + 1)
    source = members_from(any(needs_company(cat, s) for s in segments))
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS} FROM {source}"
        f" WHERE m.site_id = $1 AND {condition}{where} ORDER BY m.id LIMIT {limit}",
        query.params,
    )
    for row in rows:
        if isinstance(row.get("attributes"), str | bytes):
            row["attributes"] = orjson.loads(row["attributes"])
    return rows


# a persona's members (filter persona_pk); their count comes from the request's loader
MEMBERS = RowListing(list_members)
