"""Helpers for the rule tests: members in the real database, and both evaluators' answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.auth.models import Site
from app.auth.service import create_site
from app.companies.models import Company
from app.db import execute, fetch, is_postgres
from app.members.models import Member
from app.rules import CompanyFacts, MemberFacts, Node, compile_sql, evaluate

NOW = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


@dataclass
class CompanyRow:
    external_id: str
    name: str = "Acme"
    plan: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class MemberRow:
    external_id: str
    email: str | None = None
    name: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    bucket: int = 0
    created_at: datetime = NOW
    updated_at: datetime = NOW
    company: CompanyRow | None = None


# in_segment() stand-ins: a Python answer from the facts, and the same as SQL over m and c
SEGMENTS: dict[str, tuple[Any, str]] = {
    "even": (lambda f: f.bucket % 2 == 0, "m.bucket % 2 = 0"),
    "with_company": (lambda f: f.company is not None, "m.company_id IS NOT NULL"),
    "unknown": (lambda f: None, "NULL"),
}


def in_segment_sql(name: str) -> str:
    sql = SEGMENTS[name][1]
    return "CAST(NULL AS boolean)" if sql == "NULL" and is_postgres() else sql


async def site_id(slug: str = "rules") -> int:
    site = await Site.get_or_none(slug=slug) or await create_site(slug=slug)
    return int(site.id)


async def reset(site: int) -> None:
    await execute("DELETE FROM members WHERE site_id = $1", [site])
    await execute("DELETE FROM companies WHERE site_id = $1", [site])


async def insert(site: int, members: list[MemberRow]) -> None:
    """Store members (and their companies) through the ORM, as the service does."""
    companies: dict[str, int] = {}
    for row in members:
        company_id = None
        if row.company is not None:
            c = row.company
            if c.external_id not in companies:
                made = await Company.create(
                    site_id=site,
                    external_id=c.external_id,
                    name=c.name,
                    plan=c.plan,
                    attributes=c.attributes,
                )
                companies[c.external_id] = made.id
            company_id = companies[c.external_id]
        member = await Member.create(
            site_id=site,
            external_id=row.external_id,
            email=row.email,
            name=row.name,
            company_id=company_id,
            attributes=row.attributes,
            bucket=row.bucket,
            created_at=row.created_at,
        )
        # auto_now rewrites updated_at on every ORM save; set it the way a later save would
        await execute(
            "UPDATE members SET updated_at = $1 WHERE id = $2", [row.updated_at, member.id]
        )


async def load_facts(site: int) -> dict[str, MemberFacts]:
    """The members as the service would read them back: facts from the stored rows."""
    companies = {c.id: c for c in await Company.filter(site_id=site)}
    facts: dict[str, MemberFacts] = {}
    for m in await Member.filter(site_id=site):
        company = companies.get(m.company_id) if m.company_id is not None else None
        facts[m.external_id] = MemberFacts(
            external_id=m.external_id,
            email=m.email,
            name=m.name,
            created_at=m.created_at,
            updated_at=m.updated_at,
            attributes=m.attributes,
            bucket=m.bucket,
            company=None
            if company is None
            else CompanyFacts(company.external_id, company.name, company.plan, company.attributes),
        )
    return facts


def _compile(node: Node, salt: int, offset: int) -> tuple[str, list[Any]]:
    return compile_sql(
        node,
        dialect="postgres" if is_postgres() else "sqlite",
        salt=salt,
        in_segment_sql=in_segment_sql,
        now=NOW,
        param_offset=offset,
    )


async def sql_matches(site: int, node: Node, *, salt: int = 0) -> set[str]:
    """Ids of the members the compiled SQL selects, used as a WHERE clause."""
    where, params = _compile(node, salt, 1)
    rows = await fetch(
        "SELECT m.external_id FROM members m LEFT JOIN companies c ON c.id = m.company_id"
        f" WHERE m.site_id = $1 AND ({where})",
        [site, *params],
    )
    return {r["external_id"] for r in rows}


async def sql_results(site: int, node: Node, *, salt: int = 0) -> dict[str, bool | None]:
    """Each member's three-valued answer from the compiled SQL (NULL is None)."""
    expression, params = _compile(node, salt, 1)
    rows = await fetch(
        f"SELECT m.external_id, ({expression}) AS result"
        " FROM members m LEFT JOIN companies c ON c.id = m.company_id WHERE m.site_id = $1",
        [site, *params],
    )
    # SQLite answers 1/0 for true/false
    return {r["external_id"]: None if r["result"] is None else bool(r["result"]) for r in rows}


def python_results(
    facts: dict[str, MemberFacts], node: Node, *, salt: int = 0
) -> dict[str, bool | None]:
    """Each member's three-valued answer from the Python evaluator."""
    return {
        member_id: evaluate(
            node,
            f,
            salt=salt,
            in_segment=lambda name, f=f: SEGMENTS[name][0](f),  # type: ignore[misc]
            now=NOW,
        )
        for member_id, f in facts.items()
    }


def python_matches(facts: dict[str, MemberFacts], node: Node, *, salt: int = 0) -> set[str]:
    return {m for m, result in python_results(facts, node, salt=salt).items() if result is True}
