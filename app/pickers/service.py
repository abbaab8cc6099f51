"""Pickers for admin UIs: members and companies found by a few typed letters, or named by
their ids, each as a choice with a label.

A member is labelled by its email, else its name, else its id (described by its name);
a company by its name (described by its plan). Search is case-insensitive: exact matches
first, then prefix matches, then matches anywhere, each group in label order.

On PostgreSQL a search never sorts nor fetches every match of a common word (indexes of
migrations 0008 and 0010):

1. the matches are fetched through the trigram index, at most ``CANDIDATES`` + 1 of them,
   unordered; when there are no more than ``CANDIDATES``, they are the whole answer, ranked
   and sorted in the same statement (rare words: one statement);
2. otherwise the words are common, and each group is read in turn until ``limit`` choices
   are found: the exact and the prefix matches through the prefix btrees (``lower(column)``,
   ``text_pattern_ops``, read as ranges), whole when they are few; a group with many rows
   by walking the label index in label order and keeping the rows of the group, which
   stops after ``limit`` of them (at most ``WALK`` rows read). A group that is a twentieth
   of the first read's sample is walked first (a bitmap over the prefix btrees of a
   common prefix costs more than the walk). A group whose matches all sit beyond the
   first ``WALK`` labels (rare) is sorted whole, as before the indexes.

Each statement is written with its values in (``inline``): it is planned for its own words,
never by a generic plan of the statement cache.

On SQLite a search is one statement over a scan of the site's rows, its ``lower`` the
Unicode-aware one of ``app.db.unicode_lower`` (SQLite's own lowers ASCII letters only).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.companies import service as companies
from app.db import fetch, fold, is_postgres, like_pattern, unicode_lower
from app.members import service as members

# the most matches fetched unordered and sorted whole; more make a word common
CANDIDATES = 500
# the most rows of the label index a walk reads before sorting the group whole instead
WALK = 3000
# after the longest character: a bound above every text that starts with a prefix
_TOP = "\U0010ffff"

_LIKE = "lower({}) LIKE :{} ESCAPE '\\'"


@dataclass(frozen=True)
class Choice:
    id: str
    label: str
    description: str | None


@dataclass(frozen=True)
class _Picker:
    """What a picker searches: its table, the searched columns (external_id first), the
    columns it reads, its label order and the trigram-indexed text (migration 0008)."""

    table: str
    columns: tuple[str, ...]
    read: str
    label: str
    text: str


# The lowered text of every searched column, joined by a newline: what the trigram indexes
# of migration 0008 cover on PostgreSQL (the same expression, so that the planner matches
# it). Holding q is necessary for any one column to hold it, so it is a prefilter the index
# answers; the per-column tests then decide.
_PICKERS = {
    "members": _Picker(
        table="members",
        columns=("external_id", "email", "name"),
        read="external_id, email, name",
        label="lower(COALESCE(email, name, external_id))",
        text="lower(external_id || '\n' || COALESCE(email, '') || '\n' || COALESCE(name, ''))",
    ),
    "companies": _Picker(
        table="companies",
        columns=("external_id", "name"),
        read="external_id, name, plan",
        label="lower(name)",
        text="lower(external_id || '\n' || name)",
    ),
}

Kind = Literal["members", "companies"]


def _member_choice(external_id: str, email: str | None, name: str | None) -> Choice:
    return Choice(id=external_id, label=email or name or external_id, description=name)


def _any(picker: _Picker, test: str) -> str:
    return "(" + " OR ".join(test.format(c) for c in picker.columns) + ")"


# Statements name their parameters (:site, :q lowered, :prefix and :anywhere its LIKE
# patterns, :top the bound above its prefix, :limit, :cap); bind numbers them.
_NAME = re.compile(r"(?<!:):([a-z]+)\b")


def bind(text: str, values: dict[str, object]) -> tuple[str, list[object]]:
    """The statement with $n placeholders, and its parameters in that order."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return _NAME.sub(number, text), [values[name] for name in order]


def _rank(picker: _Picker) -> str:
    """SQL of a match's rank: 0 exact, 1 prefix, 2 anywhere (or no match)."""
    return (
        f"CASE WHEN {_any(picker, 'lower({}) = :q')} THEN 0"
        f" WHEN {_any(picker, _LIKE.format('{}', 'prefix'))} THEN 1 ELSE 2 END"
    )


def _match(picker: _Picker) -> str:
    return _any(picker, _LIKE.format("{}", "anywhere"))


# how the rows of a group are found through an index, and what keeps only that group
_ACCESS = {
    "all": lambda p: f"{p.text} LIKE :anywhere ESCAPE '\\' AND {_match(p)}",
    0: lambda p: _any(p, "lower({}) = :q"),
    1: lambda p: _any(p, "(lower({0}) ~>=~ :q AND lower({0}) ~<~ :top)") + f" AND {_rank(p)} = 1",
    2: lambda p: f"{p.text} LIKE :anywhere ESCAPE '\\' AND {_match(p)} AND {_rank(p)} = 2",
}
_GROUP = {
    0: lambda p: f"{_rank(p)} = 0",
    1: lambda p: f"{_rank(p)} = 1",
    2: lambda p: f"{_match(p)} AND {_rank(p)} = 2",
}


def search_sql(kind: Kind) -> str:
    """The one statement of a search on SQLite (and the reference of the answer): every
    match of the site, ranked and sorted, the first :limit."""
    p = _PICKERS[kind]
    return (
        f"SELECT {p.read}, {_rank(p)} AS rank FROM {p.table}"
        f" WHERE site_id = :site AND {_ACCESS['all'](p)}"
        f" ORDER BY rank, {p.label}, external_id LIMIT :limit"
    )


def capped_sql(kind: Kind, group: Literal["all", 0, 1]) -> str:
    """Up to :cap rows of a group (or of every match) read through its index unordered, the
    first :limit of them ranked and sorted, each with the number read (``found``) and how
    many of those were exact (``exact``) and prefix (``prefix``) matches."""
    p = _PICKERS[kind]
    return (
        f"WITH hits AS MATERIALIZED (SELECT {p.read}, {_rank(p)} AS rank, {p.label} AS label"
        f" FROM {p.table} WHERE site_id = :site AND {_ACCESS[group](p)} LIMIT :cap)"
        f" SELECT {p.read}, rank, (SELECT count(*) FROM hits) AS found,"
        " (SELECT count(*) FROM hits WHERE rank = 0) AS exact,"
        " (SELECT count(*) FROM hits WHERE rank = 1) AS prefix"
        " FROM hits ORDER BY rank, label, external_id LIMIT :limit"
    )


def walk_sql(kind: Kind, group: Literal[0, 1, 2]) -> str:
    """The first :limit rows of a group in label order, among the first :cap labels of the site
    (the label index read in order, stopping as soon as :limit rows of the group are found)."""
    p = _PICKERS[kind]
    inner = (
        f"SELECT {p.read}, {p.label} AS label FROM {p.table} WHERE site_id = :site"
        f" ORDER BY {p.label}, external_id LIMIT :cap"
    )
    return (
        f"SELECT {p.read}, {group} AS rank FROM ({inner}) AS walked WHERE {_GROUP[group](p)}"
        " ORDER BY label, external_id LIMIT :limit"
    )


def group_sql(kind: Kind, group: Literal[0, 1, 2]) -> str:
    """The first :limit rows of a group, the whole group read through its index and sorted
    (the last resort: the fence keeps the planner from walking the label index instead)."""
    p = _PICKERS[kind]
    return (
        f"WITH hits AS MATERIALIZED (SELECT {p.read}, {p.label} AS label FROM {p.table}"
        f" WHERE site_id = :site AND {_ACCESS[group](p)})"
        f" SELECT {p.read}, {group} AS rank FROM hits ORDER BY label, external_id LIMIT :limit"
    )


def _literal(value: object) -> str:
    if isinstance(value, int):
        return str(int(value))
    text = str(value).replace("\\", "\\\\").replace("'", "''")
    return f"E'{text}'"


def inline(text: str, values: dict[str, object]) -> str:
    """The statement with its values written in (PostgreSQL): each search is planned for
    its own words, never by a generic plan of the statement cache, which cannot know
    whether a word is rare (read the trigram index) or common (walk the label index)."""
    return _NAME.sub(lambda match: _literal(values[match.group(1)]), text)


def search_values(site_id: int, q: str, limit: int) -> dict[str, object]:
    """The parameters of the statements of a search for q (already stripped)."""
    anywhere = like_pattern(q)
    return {
        "site": site_id,
        "q": fold(q),
        "prefix": anywhere[1:],
        "anywhere": anywhere,
        "top": fold(q) + _TOP,
        "limit": limit,
        "cap": CANDIDATES + 1,
    }


async def _search(kind: Kind, site_id: int, q: str, limit: int) -> list[dict[str, Any]]:
    q = q.strip()
    if not q or limit <= 0:
        return []
    values = search_values(site_id, q, limit)

    if not is_postgres():
        return await fetch(*bind(unicode_lower(search_sql(kind)), values))
    if "\x00" in q:
        return []  # no text of PostgreSQL holds a NUL

    async def run(text: str, **given: object) -> list[dict[str, Any]]:
        return await fetch(inline(text, values | given))

    rows = await run(capped_sql(kind, "all"))
    if not rows or rows[0]["found"] <= CANDIDATES:
        return rows
    # the matches read are a sample of them all, in no particular order: a group holding a
    # twentieth of the sample is likely common, and walked first
    common = {0: rows[0]["exact"] * 20 >= CANDIDATES, 1: rows[0]["prefix"] * 20 >= CANDIDATES}
    found: list[dict[str, Any]] = []
    group: Literal[0, 1, 2]
    for group in (0, 1, 2):
        need = limit - len(found)
        page = await _group(run, kind, group, need, walk_first=group == 2 or common[group])
        found += page
        if len(found) == limit:
            break
    return found


async def _group(
    run: Callable[..., Awaitable[list[dict[str, Any]]]],
    kind: Kind,
    group: Literal[0, 1, 2],
    need: int,
    *,
    walk_first: bool,
) -> list[dict[str, Any]]:
    """The first ``need`` rows of a group of a common word: walked first when likely
    common, else read through its index (whole when few, walked when many); sorted whole
    as the last resort."""
    walked = False
    if walk_first:
        rows = await run(walk_sql(kind, group), limit=need, cap=WALK)
        if len(rows) == need:
            return rows
        walked = True
    if group != 2:
        rows = await run(capped_sql(kind, group), limit=need)
        if not rows or rows[0]["found"] <= CANDIDATES:
            return rows
        if not walked:
            rows = await run(walk_sql(kind, group), limit=need, cap=WALK)
            if len(rows) == need:
                return rows
    return await run(group_sql(kind, group), limit=need)


async def search_members(*, site_id: int, q: str, limit: int) -> list[Choice]:
    """Up to limit members whose id, email or name holds q (nothing for a blank q)."""
    rows = await _search("members", site_id, q, limit)
    return [_member_choice(r["external_id"], r["email"], r["name"]) for r in rows]


async def search_companies(*, site_id: int, q: str, limit: int) -> list[Choice]:
    """Up to limit companies whose id or name holds q (nothing for a blank q)."""
    rows = await _search("companies", site_id, q, limit)
    return [Choice(id=r["external_id"], label=r["name"], description=r["plan"]) for r in rows]


async def resolve_members(*, site_id: int, ids: Sequence[str]) -> list[Choice]:
    """Choices for these member ids, in the order asked; unknown ids left out."""
    found = await members.get_many(site_id=site_id, external_ids=ids)
    return [_member_choice(m.external_id, m.email, m.name) for m in found]


async def resolve_companies(*, site_id: int, ids: Sequence[str]) -> list[Choice]:
    """Choices for these company ids, in the order asked; unknown ids left out."""
    found = await companies.get_many(site_id=site_id, external_ids=ids)
    return [Choice(id=c.external_id, label=c.name, description=c.plan) for c in found]
