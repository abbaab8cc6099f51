"""Reading membership: the effective members of segments, listed companies, exclusions.

Effective membership of a segment = listed members whose listing has not expired
+ members of listed companies - excluded members. Every reader uses these queries, so
listings, counts and lookups cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import fetch, like_pattern, ts

_EFFECTIVE = """
  SELECT sm.segment_id, sm.member_id, sm.source, sm.added_at, sm.expires_at
    FROM segment_members sm
   WHERE sm.site_id = $1 AND sm.segment_id IN ({segments})
     AND (sm.expires_at IS NULL OR sm.expires_at > $2)
  UNION ALL
  SELECT sc.segment_id, m.id, 'COMPANY', sc.added_at, NULL
    FROM segment_companies sc JOIN members m ON m.company_id = sc.company_id
   WHERE sc.site_id = $1 AND sc.segment_id IN ({segments}) AND m.site_id = $1
     AND NOT EXISTS (SELECT 1 FROM segment_members l
                      WHERE l.segment_id = sc.segment_id AND l.member_id = m.id
                        AND (l.expires_at IS NULL OR l.expires_at > $2))
"""

_NOT_EXCLUDED = """NOT EXISTS (SELECT 1 FROM segment_exclusions x
                    WHERE x.segment_id = e.segment_id AND x.member_id = e.member_id)"""


def _marks(values: Sequence[Any], start: int) -> str:
    return ", ".join(f"${start + i}" for i in range(len(values)))


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    if isinstance(row.get("attributes"), str | bytes):
        row["attributes"] = orjson.loads(row["attributes"])
    return row


async def member_counts(*, site_id: int, segment_pks: Sequence[int]) -> dict[int, int]:
    """Effective member count per segment, in one statement whatever the number of segments."""
    if not segment_pks:
        return {}
    now = datetime.now(UTC)
    effective = _EFFECTIVE.format(segments=_marks(segment_pks, 3))
    rows = await fetch(
        f"SELECT e.segment_id, COUNT(*) AS n FROM ({effective}) e"
        f" WHERE {_NOT_EXCLUDED} GROUP BY e.segment_id",
        [site_id, ts(now), *segment_pks],
    )
    counts = {pk: 0 for pk in segment_pks}
    counts.update({int(r["segment_id"]): int(r["n"]) for r in rows})
    return counts


async def company_counts(*, site_id: int, segment_pks: Sequence[int]) -> dict[int, int]:
    if not segment_pks:
        return {}
    rows = await fetch(
        "SELECT segment_id, COUNT(*) AS n FROM segment_companies WHERE site_id = $1"
        f" AND segment_id IN ({_marks(segment_pks, 2)}) GROUP BY segment_id",
        [site_id, *segment_pks],
    )
    counts = {pk: 0 for pk in segment_pks}
    counts.update({int(r["segment_id"]): int(r["n"]) for r in rows})
    return counts


_MEMBER_COLUMNS = (
    "m.id, m.external_id, m.email, m.name, m.company_id, m.attributes, m.bucket,"
    " m.created_at, m.updated_at"
)


def _member_search(search: str | None, params: list[Any]) -> str:
    if not search:
        return ""
    params.append(like_pattern(search))
    n = len(params)
    return (
        f" AND (lower(m.external_id) LIKE ${n} ESCAPE '\\' OR lower(m.email) LIKE ${n} ESCAPE '\\'"
        f" OR lower(m.name) LIKE ${n} ESCAPE '\\')"
    )


async def list_members(
    *, site_id: int, segment_pk: int, search: str | None, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 effective members of a segment in member order, with how each is a member."""
    params: list[Any] = [site_id, ts(datetime.now(UTC)), segment_pk]
    where = _member_search(search, params)
    if after is not None:
        params.append(after)
        where += f" AND e.member_id > ${len(params)}"
    params.append(first + 1)
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS}, e.source, e.added_at, e.expires_at"
        f" FROM ({_EFFECTIVE.format(segments='$3')}) e JOIN members m ON m.id = e.member_id"
        f" WHERE {_NOT_EXCLUDED}{where} ORDER BY e.member_id LIMIT ${len(params)}",
        params,
    )
    return [_decode(r) for r in rows]


async def count_members(*, site_id: int, segment_pk: int, search: str | None) -> int:
    if not search:
        return (await member_counts(site_id=site_id, segment_pks=[segment_pk]))[segment_pk]
    params: list[Any] = [site_id, ts(datetime.now(UTC)), segment_pk]
    where = _member_search(search, params)
    rows = await fetch(
        f"SELECT COUNT(*) AS n FROM ({_EFFECTIVE.format(segments='$3')}) e"
        f" JOIN members m ON m.id = e.member_id WHERE {_NOT_EXCLUDED}{where}",
        params,
    )
    return int(rows[0]["n"])


async def list_companies(
    *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    """Up to first+1 listed companies of a segment, in company order."""
    params: list[Any] = [site_id, segment_pk]
    where = ""
    if after is not None:
        params.append(after)
        where = f" AND c.id > ${len(params)}"
    params.append(first + 1)
    rows = await fetch(
        "SELECT c.id, c.external_id, c.name, c.plan, c.attributes, c.created_at, c.updated_at"
        " FROM segment_companies sc JOIN companies c ON c.id = sc.company_id"
        f" WHERE sc.site_id = $1 AND sc.segment_id = $2{where} ORDER BY c.id LIMIT ${len(params)}",
        params,
    )
    return [_decode(r) for r in rows]


async def list_excluded(
    *, site_id: int, segment_pk: int, first: int, after: int | None
) -> list[dict[str, Any]]:
    params: list[Any] = [site_id, segment_pk]
    where = ""
    if after is not None:
        params.append(after)
        where = f" AND m.id > ${len(params)}"
    params.append(first + 1)
    rows = await fetch(
        f"SELECT {_MEMBER_COLUMNS} FROM segment_exclusions x JOIN members m ON m.id = x.member_id"
        f" WHERE x.site_id = $1 AND x.segment_id = $2{where} ORDER BY m.id LIMIT ${len(params)}",
        params,
    )
    return [_decode(r) for r in rows]


async def count_excluded(*, site_id: int, segment_pk: int) -> int:
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM segment_exclusions WHERE site_id = $1 AND segment_id = $2",
        [site_id, segment_pk],
    )
    return int(rows[0]["n"])
