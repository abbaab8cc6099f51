"""Pickers for admin UIs: members and companies found by a few typed letters, or named by
their ids, each as a choice with a label.

A member is labelled by its email, else its name, else its id (described by its name);
a company by its name (described by its plan). Search is case-insensitive: exact matches
first, then prefix matches, then matches anywhere, each group in label order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from app.companies import service as companies
from app.db import fetch, like_pattern
from app.members import service as members

_LIKE = "lower({}) LIKE ${} ESCAPE '\\'"
# The lowered text of every searched column, joined by a newline: what the trigram indexes
# of migration 0011 cover on PostgreSQL (the same expression, so that the planner matches
# it). Holding q is necessary for any one column to hold it, so it is a prefilter the index
# answers; the per-column tests then decide. On SQLite it is one more test of a scan.
_MEMBER_TEXT = "lower(external_id || '\n' || COALESCE(email, '') || '\n' || COALESCE(name, ''))"
_COMPANY_TEXT = "lower(external_id || '\n' || name)"


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    description: str | None


def _member_choice(external_id: str, email: str | None, name: str | None) -> Choice:
    return Choice(id=external_id, label=email or name or external_id, description=name)


def _ranked(columns: Sequence[str]) -> tuple[str, str]:
    """SQL of a match's rank (0 exact, 1 prefix, 2 anywhere) and of the match itself, over
    the given columns, with $2 the lowered query, $3 its prefix and $4 its anywhere pattern."""

    def any_of(test: str) -> str:
        return " OR ".join(test.format(c) for c in columns)

    rank = (
        f"CASE WHEN {any_of('lower({}) = $2')} THEN 0"
        f" WHEN {any_of(_LIKE.format('{}', 3))} THEN 1 ELSE 2 END"
    )
    return rank, any_of(_LIKE.format("{}", 4))


def _params(site_id: int, q: str, limit: int) -> list[object]:
    anywhere = like_pattern(q)
    return [site_id, q.lower(), anywhere[1:], anywhere, limit]


def search_sql(kind: Literal["members", "companies"]) -> str:
    """The statement of a search of members or companies ($1 site, $2 q lowered, $3 its
    prefix pattern, $4 its anywhere pattern, $5 the limit)."""
    if kind == "members":
        rank, match = _ranked(["external_id", "email", "name"])
        return (
            f"SELECT external_id, email, name, {rank} AS rank FROM members"
            f" WHERE site_id = $1 AND {_MEMBER_TEXT} LIKE $4 ESCAPE '\\' AND ({match})"
            " ORDER BY rank, lower(COALESCE(email, name, external_id)), external_id LIMIT $5"
        )
    rank, match = _ranked(["external_id", "name"])
    return (
        f"SELECT external_id, name, plan, {rank} AS rank FROM companies"
        f" WHERE site_id = $1 AND {_COMPANY_TEXT} LIKE $4 ESCAPE '\\' AND ({match})"
        " ORDER BY rank, lower(name), external_id LIMIT $5"
    )


async def search_members(*, site_id: int, q: str, limit: int) -> list[Choice]:
    """Up to limit members whose id, email or name holds q (nothing for a blank q)."""
    q = q.strip()
    if not q or limit <= 0:
        return []
    rows = await fetch(search_sql("members"), _params(site_id, q, limit))
    return [_member_choice(r["external_id"], r["email"], r["name"]) for r in rows]


async def search_companies(*, site_id: int, q: str, limit: int) -> list[Choice]:
    """Up to limit companies whose id or name holds q (nothing for a blank q)."""
    q = q.strip()
    if not q or limit <= 0:
        return []
    rows = await fetch(search_sql("companies"), _params(site_id, q, limit))
    return [Choice(id=r["external_id"], label=r["name"], description=r["plan"]) for r in rows]


async def resolve_members(*, site_id: int, ids: Sequence[str]) -> list[Choice]:
    """Choices for these member ids, in the order asked; unknown ids left out."""
    found = await members.get_many(site_id=site_id, external_ids=ids)
    return [_member_choice(m.external_id, m.email, m.name) for m in found]


async def resolve_companies(*, site_id: int, ids: Sequence[str]) -> list[Choice]:
    """Choices for these company ids, in the order asked; unknown ids left out."""
    found = await companies.get_many(site_id=site_id, external_ids=ids)
    return [Choice(id=c.external_id, label=c.name, description=c.plan) for c in found]
