"""What each writer records: the changes of effective membership its write makes, found by
one statement per step over the rows it is about to write (before the write, when the answer
depends on what was there), written with app.memberships.kept.emit.

Each function runs on the writer's transaction, which holds the site's membership lock
(``lock.ensure_site``). A dry run never calls them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params, ts
from app.memberships import catalogue, dependencies, kept, lock, refresh
from app.memberships.effective import needs_company
from app.memberships.kept import (
    NOTHING,
    Writer,
    Written,
    company_listed,
    excluded,
    listed,
    live,
    matched,
)

MEMBERS, COMPANIES, EXCLUSIONS = "segment_members", "segment_companies", "segment_exclusions"


def _row(seg: str, mem: str, kind: str, cause: str, now: str) -> str:
    return (
        f"SELECT {seg} AS segment_id, {mem} AS member_id, m.external_id AS member_ref,"
        f" '{kind}' AS kind, '{cause}' AS cause, {now} AS at"
    )


def _union(arms: list[str]) -> str:
    return " UNION ALL ".join(f"SELECT * FROM ({arm}) a{i}" for i, arm in enumerate(arms))


async def _present(w: Writer, segment: str) -> dict[str, bool]:
    """Which kinds of rows the segment has: a probe for a kind it has none of is left out."""
    kinds = {
        "listings": "segment_members",
        "companies": "segment_companies",
        "matches": "segment_rule_matches",
        "exclusions": "segment_exclusions",
    }
    row = (
        await w.rows(
            "SELECT "
            + ", ".join(
                f"EXISTS (SELECT 1 FROM {table} WHERE segment_id = {segment}) AS {kind}"
                for kind, table in kinds.items()
            )
        )
    )[0]
    return {kind: bool(row[kind]) for kind in kinds}


def _none_of(*terms: tuple[bool, str]) -> str:
    """SQL: none of the terms present holds."""
    kept_terms = [f"NOT {term}" for present, term in terms if present]
    return " AND ".join(kept_terms) if kept_terms else "1 = 1"


def _any_of(*terms: tuple[bool, str]) -> str:
    kept_terms = [term for present, term in terms if present]
    return "(" + " OR ".join(kept_terms) + ")" if kept_terms else "1 = 0"


def _given(src: str, *, with_company: bool) -> str:
    """The resolved rows of an ids table as members ``m`` (ord, id, external_id, company_id):
    the members table is read only when the company is asked for."""
    if with_company:
        return (
            f"(SELECT b.ord, m.id, m.external_id, m.company_id FROM {src} b"
            " JOIN members m ON m.id = b.ref_id) m"
        )
    return (
        f"(SELECT b.ord, b.ref_id AS id, b.external_id, NULL AS company_id FROM {src} b"
        " WHERE b.ref_id IS NOT NULL) m"
    )


def _outside(src: str, ref: str) -> str:
    """SQL: ``ref`` is not among the rows of the ids table ``src``."""
    return f"NOT EXISTS (SELECT 1 FROM {src} b WHERE b.ref_id = {ref})"


@dataclass(frozen=True)
class _List:
    """A list of a segment whose rows make members of it (companies) or unmake them
    (exclusions), as a change of it is recorded."""

    table: str
    alias: str
    column: str  # what a row lists
    on: str  # the column of members m that names it
    cause: str
    makes: bool
    order: str  # of the members the input rows name


_COMPANY_LIST = _List(COMPANIES, "sc", "company_id", "m.company_id", "COMPANY", True, "b.ord, m.id")
_EXCLUSION_LIST = _List(EXCLUSIONS, "x", "member_id", "m.id", "EXCLUDED", False, "b.ord")


def _list_arms(
    kind: _List,
    s: str,
    now: str,
    src: str,
    *,
    mode: str,
    adds: bool,
    present: bool,
    is_in: str,
    others: str,
) -> list[str]:
    """The arms of a change of a ``kind`` list, over the members whose membership the list
    decides (``others``: no other reason holds): with OVERRIDE, the segment's rows not in the
    input stop counting; the input rows (``is_in``: already in the list) start counting where
    they were not in the list (ADD, OVERRIDE), or stop where they were (DELETE)."""
    start, stop = (kept.ENTERED, kept.EXITED) if kind.makes else (kept.EXITED, kept.ENTERED)
    arms: list[str] = []
    if mode == "OVERRIDE" and present:
        row = f"{kind.alias}.{kind.column}"
        arms.append(
            f"{_row(s, 'm.id', stop, kind.cause, now)} FROM {kind.table} {kind.alias}"
            f" JOIN members m ON {kind.on} = {row} WHERE {kind.alias}.segment_id = {s}"
            f" AND {_outside(src, row)} AND {others} ORDER BY m.id"
        )
    if adds or present:
        arms.append(
            f"{_row(s, 'm.id', start if adds else stop, kind.cause, now)} FROM {src} b"
            f" JOIN members m ON {kind.on} = b.ref_id"
            f" WHERE {'NOT ' if adds else ''}{is_in} AND {others} ORDER BY {kind.order}"
        )
    return arms


async def before_list_change(
    w: Writer, table: str, segment_id: int, mode: str, src: str
) -> Written:
    """Record what ADD / OVERRIDE / DELETE of the ids of ``src`` (rows ``ref_id``) in one list
    of the segment will change, before it is written."""
    p = Params(w.tx)
    now = p.add(w.now, "timestamptz")
    s = str(int(segment_id))
    has = await _present(w, s)
    adds = mode != "DELETE"
    arms: list[str] = []
    is_listed = (has["listings"], listed(s, "m.id", now))
    via_company = (has["companies"], company_listed(s, "m.company_id"))
    is_matched = (has["matches"], matched(s, "m.id"))
    is_excluded = (has["exclusions"], excluded(s, "m.id"))
    if table == MEMBERS:
        others = _none_of(via_company, is_matched, is_excluded)
        if mode == "OVERRIDE" and has["listings"]:
            arms.append(
                f"{_row(s, 'm.id', kept.EXITED, 'UNLISTED', now)} FROM segment_members l"
                f" JOIN members m ON m.id = l.member_id WHERE l.segment_id = {s}"
                f" AND {live('l', now)} AND {_outside(src, 'l.member_id')} AND {others}"
                " ORDER BY m.id"
            )
        given = _given(src, with_company=has["companies"])
        if adds:
            arms.append(
                f"{_row(s, 'm.id', kept.ENTERED, 'LISTED', now)} FROM {given}"
                f" WHERE {_none_of(is_listed)} AND {others} ORDER BY m.ord"
            )
        elif has["listings"]:
            arms.append(
                f"{_row(s, 'm.id', kept.EXITED, 'UNLISTED', now)} FROM {given}"
                f" WHERE {is_listed[1]} AND {others} ORDER BY m.ord"
            )
    elif table == COMPANIES:
        others = _none_of(is_listed, is_matched, is_excluded)
        arms += _list_arms(
            _COMPANY_LIST,
            s,
            now,
            src,
            mode=mode,
            adds=adds,
            present=has["companies"],
            is_in=company_listed(s, "b.ref_id"),
            others=others,
        )
    else:
        made = _any_of(is_listed, via_company, is_matched)
        if made == "1 = 0":
            return NOTHING  # no member: excluding or not changes no membership
        arms += _list_arms(
            _EXCLUSION_LIST,
            s,
            now,
            src,
            mode=mode,
            adds=adds,
            present=has["exclusions"],
            is_in=is_excluded[1],
            others=made,
        )
    if not arms:
        return NOTHING
    return await kept.emit(w, _union(arms), p.values)


async def unlisted_exits(w: Writer, segment_id: int, deleted: str, now: str) -> str:
    """SQL: the EXITED (UNLISTED) of the listings the CTE ``deleted`` (PostgreSQL) unlists in
    the same statement (columns ord, id, external_id, company_id, live: whether the listing
    was unexpired at ``now``), numbered n in input order (for ``kept.emit_with``): the
    members no company, kept match or exclusion keeps where they are. The probes read the
    rows as they were before the statement, which are the rows the unlisting leaves but for
    the listings themselves."""
    s = str(int(segment_id))
    has = await _present(w, s)
    others = _none_of(
        (has["companies"], company_listed(s, "m.company_id")),
        (has["matches"], matched(s, "m.id")),
        (has["exclusions"], excluded(s, "m.id")),
    )
    return (
        f"{_row(s, 'm.id', kept.EXITED, 'UNLISTED', now)}, m.ord AS n FROM {deleted} m"
        f" WHERE m.live AND {others}"
    )


async def before_move(w: Writer, source: int, target: int | None, moved: str) -> Written:
    """Record a move of the listings of ``moved`` (rows ``ref_id``) from source to target."""
    p = Params(w.tx)
    now = p.add(w.now, "timestamptz")
    s = str(int(source))
    arms = [
        f"{_row(s, 'm.id', kept.EXITED, 'UNLISTED', now)} FROM {moved} b"
        f" JOIN members m ON m.id = b.ref_id WHERE NOT {company_listed(s, 'm.company_id')}"
        f" AND NOT {matched(s, 'm.id')} AND NOT {excluded(s, 'm.id')} ORDER BY b.ord"
    ]
    if target is not None:
        t = str(int(target))
        arms.append(
            f"{_row(t, 'm.id', kept.ENTERED, 'LISTED', now)} FROM {moved} b"
            f" JOIN members m ON m.id = b.ref_id WHERE NOT {listed(t, 'm.id', now)}"
            f" AND NOT {company_listed(t, 'm.company_id')} AND NOT {matched(t, 'm.id')}"
            f" AND NOT {excluded(t, 'm.id')} ORDER BY b.ord"
        )
    return await kept.emit(w, _union(arms), p.values)


async def listed_anew(w: Writer, segment_id: int, source: str, params: list[Any]) -> Written:
    """Record ENTERED (LISTED) for the members ``source`` (FROM ... WHERE over members m,
    its parameters in ``params``) that are about to be listed and are not members yet."""
    now = f"${len(params) + 1}" + ("::timestamptz" if w.pg else "")
    s = str(int(segment_id))
    return await kept.emit(
        w,
        f"{_row(s, 'm.id', kept.ENTERED, 'LISTED', now)} FROM {source} ORDER BY m.id",
        [*params, ts(w.now, w.tx)],
    )


async def all_listed(w: Writer, segment_id: int) -> Written:
    """Record ENTERED (LISTED) for every listing of a segment that was just made and filled."""
    p = Params(w.tx)
    now = p.add(w.now, "timestamptz")
    s = str(int(segment_id))
    return await kept.emit(
        w,
        f"{_row(s, 'm.id', kept.ENTERED, 'LISTED', now)} FROM segment_members l"
        f" JOIN members m ON m.id = l.member_id WHERE l.segment_id = {s} AND {live('l', now)}"
        f" AND NOT {company_listed(s, 'm.company_id')} AND NOT {matched(s, 'm.id')}"
        f" AND NOT {excluded(s, 'm.id')} ORDER BY m.id",
        p.values,
    )


def _effective_pairs(where_member: str, where_segment: str, now: str) -> str:
    """(segment_id, member_id) of the effective memberships the filters select."""
    return (
        f"SELECT u.segment_id, u.member_id FROM (SELECT l.segment_id, l.member_id"
        f" FROM segment_members l WHERE {where_member.format('l.member_id')}"
        f" AND {where_segment.format('l.segment_id')} AND {live('l', now)}"
        " UNION SELECT sc.segment_id, m2.id FROM segment_companies sc"
        f" JOIN members m2 ON m2.company_id = sc.company_id"
        f" WHERE {where_member.format('m2.id')} AND {where_segment.format('sc.segment_id')}"
        " UNION SELECT r.segment_id, r.member_id FROM segment_rule_matches r"
        f" WHERE {where_member.format('r.member_id')} AND {where_segment.format('r.segment_id')}"
        f") u WHERE NOT {excluded('u.segment_id', 'u.member_id')}"
    )


async def members_deleted(w: Writer, member_ids: Sequence[int]) -> Written:
    """Record EXITED (MEMBER_DELETED) from every segment the members are in, before they go."""
    if not member_ids:
        return NOTHING
    p = Params(w.tx)
    now = p.add(w.now, "timestamptz")
    ids = p.ids(member_ids, "bigint")
    where = (
        f"{{}} = ANY({ids}::bigint[])" if w.pg else f"{{}} IN (SELECT value FROM json_each({ids}))"
    )
    pairs = _effective_pairs(where, "TRUE" if w.pg else "1", now)
    written = await kept.emit(
        w,
        f"{_row('e.segment_id', 'e.member_id', kept.EXITED, 'MEMBER_DELETED', now)}"
        f" FROM ({pairs}) e JOIN members m ON m.id = e.member_id"
        " ORDER BY e.member_id, e.segment_id",
        p.values,
    )
    # (the matches have no foreign key to cascade from the members)
    q = Params(w.tx)
    ref = q.ids(member_ids, "bigint")
    among = (
        f"member_id = ANY({ref}::bigint[])"
        if w.pg
        else f"member_id IN (SELECT value FROM json_each({ref}))"
    )
    await w.run(f"DELETE FROM segment_rule_matches WHERE {among}", q.values)
    return written


async def segment_deleted(w: Writer, segment_id: int) -> Written:
    """Record EXITED (SEGMENT_DELETED) for every member of a segment, before it goes."""
    p = Params(w.tx)
    now = p.add(w.now, "timestamptz")
    s = str(int(segment_id))
    pairs = _effective_pairs("TRUE" if w.pg else "1", f"{{}} = {s}", now)
    written = await kept.emit(
        w,
        f"{_row('e.segment_id', 'e.member_id', kept.EXITED, 'SEGMENT_DELETED', now)}"
        f" FROM ({pairs}) e JOIN members m ON m.id = e.member_id ORDER BY e.member_id",
        p.values,
    )
    # (the matches have no foreign key to cascade from the segment)
    await w.run(f"DELETE FROM segment_rule_matches WHERE segment_id = {s}")
    return written


async def rule_changed(w: Writer, segment_id: int) -> Written:
    """RULE_CHANGED: the segment's rule (or type) changed: its matches follow, over every
    member of the site, then the segments naming it (NESTED)."""
    cat = await catalogue.get(w.site_id, connection=w.tx)
    segment = cat.by_pk[segment_id]
    written = await refresh.refresh(w, cat, [segment], scoped=False, cause="RULE_CHANGED")
    await refresh.cascade(w, written, [segment_id])
    return written


async def _scope_by_ref(
    w: Writer, moved: Sequence[tuple[str, int | None]], only_moved: bool
) -> int:
    """Into _scope: the members of these external ids, each with its company before the
    write (``only_moved``: only those whose company changed); returns how many."""
    p = Params(w.tx)
    site = p.add(w.site_id, "bigint")
    if w.pg:
        ids, companies = p.ids([e for e, _ in moved], "text"), p.ids([c for _, c in moved])
        source = (
            f"unnest({ids}::text[], {companies}::bigint[]) AS t(e, c)"
            f" JOIN members m ON m.site_id = {site} AND m.external_id = t.e"
        )
        other_company = "t.c IS DISTINCT FROM m.company_id"
        select = f"SELECT m.id, t.c, {other_company}"
    else:
        pairs = p.ids([[e, c] for e, c in moved])
        # CROSS JOIN: SQLite then reads the ids once and probes (site_id, external_id) for
        # each; a plain JOIN let it scan the site's members and re-read the whole JSON array
        # for each of them (measured: 8.4 s for 2,000 upserted ids, 8 ms so)
        source = (
            f"json_each({pairs}) AS t CROSS JOIN members m ON m.site_id = {site}"
            " AND m.external_id = json_extract(t.value, '$[0]')"
        )
        other_company = "json_extract(t.value, '$[1]') IS NOT m.company_id"
        select = f"SELECT m.id, json_extract(t.value, '$[1]'), {other_company}"
    where = f" WHERE {other_company}" if only_moved else ""
    return await w.insert(
        f"INSERT INTO _scope (member_id, old_company, moved) {select} FROM {source}{where}",
        p.values,
    )


async def members_upserted(
    w: Writer,
    external_ids: Sequence[str],
    old_companies: Sequence[int | None],
    changed: dict[str, frozenset[str] | None] | None = None,
    *,
    pks: Sequence[int | None] | None = None,
    companies: Sequence[int | None] | None = None,
) -> Written:
    """MEMBER_CHANGED (and COMPANY for members that changed company, NESTED through
    in_segment()): every DYNAMIC rule of the site over the upserted members, in one pass
    (``changed``: the fields each member's write changed, by external id, None for a new
    member; a rule reading none of them keeps its answer). ``pks`` and ``companies`` (both
    or neither, PostgreSQL): each member's id (None for a new member) and the company the
    write gave it: the members known are not looked up again."""
    cat = await catalogue.get(w.site_id, connection=w.tx)
    await refresh.scope_table(w)
    # without DYNAMIC segments only a change of company can change a membership
    only_moved = not cat.dynamic
    rest = list(zip(external_ids, old_companies, strict=True))
    count = 0
    if w.pg and pks is not None and companies is not None:
        # the members that were there: ids and both companies known (some 50 ms less of
        # 10,000 than finding them again by external id)
        known = [
            (pk, old, new)
            for pk, old, new in zip(pks, old_companies, companies, strict=True)
            if pk is not None and (not only_moved or old != new)
        ]
        rest = [pair for pair, pk in zip(rest, pks, strict=True) if pk is None]
        if known:
            p = Params(w.tx)
            ids, olds, news = (p.add(list(c), "bigint[]") for c in zip(*known, strict=True))
            count += await w.insert(
                "INSERT INTO _scope (member_id, old_company, moved)"
                f" SELECT t.i, t.c, t.c IS DISTINCT FROM t.n FROM unnest({ids}, {olds}, {news})"
                " AS t(i, c, n)",
                p.values,
            )
    if rest:
        count += await _scope_by_ref(w, rest, only_moved)
    if not count:
        return NOTHING
    await w.analyze("_scope", count)
    nested = any(dependencies.names(cat, s) for s in cat.dynamic)
    return await refresh.refresh(
        w,
        cat,
        cat.dynamic,
        scoped=True,
        cause="MEMBER_CHANGED",
        moved=True,
        nested=nested,
        in_python=True,
        changed=changed,
    )


async def companies_upserted(w: Writer, external_ids: Sequence[str]) -> Written:
    """MEMBER_CHANGED for the members of the upserted companies whose rules read company
    fields (directly or through in_segment())."""
    cat = await catalogue.get(w.site_id, connection=w.tx)
    reading = [s for s in cat.dynamic if needs_company(cat, s)]
    if not reading or not external_ids:
        return NOTHING
    p = Params(w.tx)
    site = p.add(w.site_id, "bigint")
    ids = p.ids(external_ids)
    where = (
        f"c.external_id = ANY({ids}::text[])"
        if w.pg
        else f"c.external_id IN (SELECT value FROM json_each({ids}))"
    )
    count = await refresh.scope_members(
        w,
        f"SELECT m.id FROM companies c JOIN members m ON m.company_id = c.id"
        f" WHERE c.site_id = {site} AND {where}",
        p.values,
    )
    if not count:
        return NOTHING
    nested = any(dependencies.names(cat, s) for s in reading)
    return await refresh.refresh(
        w, cat, reading, scoped=True, cause="MEMBER_CHANGED", nested=nested, in_python=True
    )


async def writer(tx: BaseDBAsyncClient, site_id: int, now: datetime) -> Writer:
    """The site's membership lock for ``tx`` (see lock.ensure_site), and its writer."""
    await lock.ensure_site(site_id, tx, now)
    return Writer(tx, site_id, now)
