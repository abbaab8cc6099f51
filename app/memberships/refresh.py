"""Rule matches re-evaluated: the kept matches follow the rules, and the flips are recorded.

``refresh`` evaluates the rules (app.memberships.effective, compiled to SQL; or, for a few
upserted members, app.memberships.reevaluate) over a scope of members (_scope) or over the
whole site, for several segments in one statement, diffed with the kept matches; the pairs
whose effective answer flips become records. ``cascade`` re-evaluates the segments whose rules
name (through ``in_segment()``) a segment whose membership just changed, for the members it
changed for. Nothing here loops over members in Python (reevaluate's Python evaluator, for a
few upserted members on SQLite, aside).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from app.db import Params
from app.memberships import catalogue
from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.dependencies import dependents, names, order
from app.memberships.effective import Query
from app.memberships.kept import (
    NOTHING,
    Nesting,
    Writer,
    Written,
    company_listed,
    emit,
    emit_kinds,
    excluded,
    id_list,
    listed,
    matched,
    member_ids_of,
)
from app.memberships.matching import matches_select, over_site
from app.memberships.reevaluate import diff_in_python, diff_in_sql


async def scope_members(w: Writer, select: str, params: Sequence[Any] = ()) -> int:
    """Fill _scope (member_id, old_company, moved) with the members ``select`` gives
    (columns member_id, and optionally old_company and moved); returns how many."""
    await scope_table(w)
    count = await w.insert(f"INSERT INTO _scope (member_id) {select}", params)
    await w.analyze("_scope", count)
    return count


async def scope_table(w: Writer) -> None:
    await w.temp(
        "_scope",
        "member_id bigint NOT NULL, old_company bigint, moved boolean NOT NULL DEFAULT FALSE"
        if w.pg
        else "member_id INTEGER NOT NULL, old_company INTEGER, moved INTEGER NOT NULL DEFAULT 0",
    )


async def refresh(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    *,
    scoped: bool,
    cause: str,
    moved: bool = False,
    nested: bool = False,
    in_python: bool = False,
    changed: dict[str, frozenset[str] | None] | None = None,
) -> Written:
    """Re-evaluate the rules of ``segments`` (all of them, or those no longer DYNAMIC: no
    match) over the members of _scope (``scoped``) or of the whole site: the kept matches
    follow, and each pair whose effective answer flips is recorded with ``cause``.

    ``moved``: members of _scope with ``moved`` changed company (from ``old_company``): the
    segments listing the old or the new company are judged too (COMPANY). ``nested``: a
    change of a segment whose rule names a segment that changed for the same member in this
    call is recorded as NESTED. ``in_python``: the rules are evaluated by the Python
    evaluator over the facts of _scope's members read once (few members, many rules);
    ``changed`` (by external id: the fields each member's write changed, None for all) spares
    the rules that read none of them."""
    pks = [s.pk for s in segments]
    p = w.params()
    if moved and pks:
        # (most upserts move no member: then _diff needs no unique index for the moves)
        moved = bool(await w.rows("SELECT 1 AS one FROM _scope WHERE moved LIMIT 1"))
    if pks and w.pg and not scoped and not moved and not in_python:
        # one statement: the diff (a CTE named as the table it stands for), the kept matches
        # and the record written from it; no temporary rows, no second pass over them
        over = over_site(w, cat, segments, Query(p.values), keyed=True)
        return await _record_diff(w, cat, segments, p, cause, nested, refs=True, over=over)
    await w.temp(
        "_diff",
        "segment_id bigint NOT NULL, member_id bigint NOT NULL, was_match boolean,"
        " is_match boolean, was_company boolean, is_company boolean, member_ref text"
        if w.pg
        else "segment_id INTEGER NOT NULL, member_id INTEGER NOT NULL, was_match INTEGER,"
        " is_match INTEGER, was_company INTEGER, is_company INTEGER, member_ref TEXT",
        # only the moves' rows are upserted into it (ON CONFLICT); an index costs each row
        unique="segment_id, member_id" if moved else None,
    )
    # whether the rule rows of _diff carry their members' external ids (the record then
    # needs no second read of the members; the moves' rows do not, but they come only with
    # segments listing companies, whose probes read the members anyway)
    refs = in_python or not (scoped or moved)
    diffs = 0
    if not pks:
        pass
    elif in_python and w.pg:
        diffs = await diff_in_sql(w, cat, segments, changed)
    elif in_python:
        diffs = await diff_in_python(w, cat, segments, changed)
    elif refs:
        q = Query()
        diffs = await w.insert(
            "INSERT INTO _diff (segment_id, member_id, member_ref, was_match, is_match)"
            f" {over_site(w, cat, segments, q)}",
            q.params,
        )
    else:
        q = Query()
        new = matches_select(w, cat, segments, q, scoped=scoped)
        in_scope = " JOIN _scope s ON s.member_id = r.member_id" if scoped else ""
        kept = (
            f"SELECT r.segment_id, r.member_id FROM segment_rule_matches r{in_scope}"
            f" WHERE r.segment_id IN ({id_list(pks)})"
        )
        diffs = await w.insert(
            "INSERT INTO _diff (segment_id, member_id, was_match, is_match)"
            " SELECT COALESCE(n.segment_id, k.segment_id), COALESCE(n.member_id, k.member_id),"
            " k.member_id IS NOT NULL, n.member_id IS NOT NULL"
            " FROM n FULL JOIN k ON k.segment_id = n.segment_id AND k.member_id = n.member_id"
            " WHERE n.member_id IS NULL OR k.member_id IS NULL",
            q.params,
            ctes=f"n AS ({new}), k AS ({kept})",
        )
    if moved:
        diffs += await w.insert(
            "INSERT INTO _diff (segment_id, member_id, was_company, is_company)"
            " SELECT sc.segment_id, s.member_id,"
            " MAX(CASE WHEN sc.company_id = s.old_company THEN 1 ELSE 0 END) = 1,"
            " MAX(CASE WHEN sc.company_id = m.company_id THEN 1 ELSE 0 END) = 1"
            " FROM _scope s JOIN members m ON m.id = s.member_id"
            " JOIN segment_companies sc ON sc.company_id = s.old_company"
            " OR sc.company_id = m.company_id WHERE s.moved GROUP BY sc.segment_id, s.member_id"
            " HAVING MAX(CASE WHEN sc.company_id = s.old_company THEN 1 ELSE 0 END)"
            " <> MAX(CASE WHEN sc.company_id = m.company_id THEN 1 ELSE 0 END)"
            " ON CONFLICT (segment_id, member_id) DO UPDATE SET"
            " was_company = excluded.was_company, is_company = excluded.is_company"
        )
    if not diffs:
        return NOTHING
    by_key = in_python and w.pg
    # (one cause, one moment: no move's rows, none NESTED)
    by_member = by_key and not moved and not nested
    if not by_member:
        # (by_member: the statements below read _diff whole, or probe by its rows, whatever
        # its statistics: ANALYZE, 40 to 50 ms of 60,000 rows, would change no plan; the
        # record's sort by five keys was planned worse without them, 270 ms against 110)
        await w.analyze("_diff", diffs)
    return await _record_diff(
        w, cat, segments, p, cause, nested, refs=refs, by_key=by_key, by_member=by_member
    )


async def _record_diff(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    p: Params,
    cause: str,
    nested: bool,
    *,
    refs: bool,
    over: str = "",
    by_key: bool = False,
    by_member: bool = False,
) -> Written:
    """The kept matches follow _diff (the table, or, PostgreSQL, the select ``over`` read in
    the same statement, whose rows leaving a match carry its row, match_key), and each pair
    whose effective answer flips is recorded with ``cause``. ``by_key`` (PostgreSQL): the
    matches leaving are deleted by their keys, each probed in the primary key (the rows of
    many segments: a few of each member upserted). ``by_member``: no row of _diff is a
    move's, none NESTED (one cause): the record gathers the changes in member order itself."""
    pks = [s.pk for s in segments]
    site = int(w.site_id)
    nesting = _nesting(cat, segments) if nested else ()
    has = await _holding(w, pks) if over else None
    if has is not None and len(pks) == 1 and not nesting and not any(has.values()):
        # one segment over the site (a rule edit) with no listings, listed companies or
        # exclusions: its effective answer is its kept match, so each row of the diff with a
        # member is a change (entering when it starts to match)
        return await _edit(w, pks[0], over, p, cause)
    diff = (
        "_diff AS MATERIALIZED (SELECT o.*, CAST(NULL AS boolean) AS was_company,"
        f" CAST(NULL AS boolean) AS is_company FROM ({over}) o),"
        if over
        else ""
    )
    # in member order: the index by member (member_id, segment_id) is then filled in
    # one pass along its leaves, not at random (27,000 new matches: 15 to 20 ms less)
    add = (
        "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
        f" SELECT {site}, segment_id, member_id FROM _diff WHERE is_match AND NOT was_match"
        " ORDER BY member_id, segment_id"
    )
    leaving = "FROM _diff WHERE was_match AND NOT is_match"
    if diff:
        # by the rows the same statement read them from: no index probe, no hash of _diff
        # (measured: 24,000 of 35,000 matches of a segment, 22 ms against 41 ms or more)
        drop = (
            f"DELETE FROM segment_rule_matches WHERE ctid = ANY(ARRAY(SELECT match_key {leaving}))"
        )
    elif by_key:
        # by their keys, each probed in the primary key: the matches of many segments named
        # are most of the site's, which PostgreSQL would scan and hash against _diff
        # (measured: 220 ms for 29,000 of 680,000); the keys unnested from two arrays of one
        # read of _diff, which the planner takes for a few rows
        drop = (
            "DELETE FROM segment_rule_matches r USING (SELECT unnest(a.s) AS segment_id,"
            " unnest(a.m) AS member_id FROM (SELECT array_agg(segment_id) AS s,"
            f" array_agg(member_id) AS m {leaving}) a) d"
            " WHERE r.segment_id = d.segment_id AND r.member_id = d.member_id"
        )
    else:
        # the segments named outright: else PostgreSQL hashes _diff and scans every kept match
        # of the site (measured: 157 ms for 24,000 of 700,000 matches)
        drop = (
            f"DELETE FROM segment_rule_matches WHERE segment_id IN ({id_list(pks)})"
            f" AND (segment_id, member_id) IN (SELECT segment_id, member_id {leaving})"
        )
    if diff:
        ctes = f"{diff} _a AS ({add}), _x AS ({drop})"
        touched = pks
    else:
        await w.run(add)
        await w.run(drop)
        ctes = ""
        touched = [
            int(r["segment_id"]) for r in await w.rows("SELECT DISTINCT segment_id FROM _diff")
        ]
    now = p.add(w.now, "timestamptz")
    if has is None:
        has = await _holding(w, touched)
    match = matched("d.segment_id", "d.member_id")
    if refs:
        # the members read only for the rows that need them: a move's (no external id), the
        # company probe of a segment listing companies
        company_of = "(SELECT mc.company_id FROM members mc WHERE mc.id = d.member_id)"
        ref = (
            "COALESCE(d.member_ref,"
            " (SELECT mr.external_id FROM members mr WHERE mr.id = d.member_id))"
        )
        source = f"_diff d WHERE {ref} IS NOT NULL AND"
    else:
        company_of, ref = "m.company_id", "m.external_id"
        source = "_diff d JOIN members m ON m.id = d.member_id WHERE"
    company = _only(has["companies"], touched, company_listed("d.segment_id", company_of), w)
    was = f"(COALESCE(d.was_match, {match}) OR COALESCE(d.was_company, {company}))"
    is_ = f"(COALESCE(d.is_match, {match}) OR COALESCE(d.is_company, {company}))"
    is_listed = _only(has["listings"], touched, listed("d.segment_id", "d.member_id", now), w)
    is_excluded = _only(has["exclusions"], touched, excluded("d.segment_id", "d.member_id"), w)
    # the changes of one segment over the site (a rule edit) in member order: numbered by
    # their member ids, which are distinct in it, instead of sorted and numbered by a window
    # before the record sorts them again (40,000 changes: 35 to 40 ms)
    numbered = bool(diff) and len(pks) == 1
    # (a member has one row of a segment in _diff)
    in_member_order = by_member and not numbered and not nesting
    if numbered:
        n, ordered = ", d.member_id AS n", ""
    elif in_member_order:
        n, ordered = "", ""
    else:
        n, ordered = "", f" ORDER BY {order(cat, pks, 'd.segment_id')}d.member_id, d.segment_id"
    written = await emit(
        w,
        f"SELECT d.segment_id, d.member_id, {ref} AS member_ref,"
        f" CASE WHEN {is_} THEN 'ENTERED' ELSE 'EXITED' END AS kind,"
        f" CASE WHEN d.was_company IS NOT NULL THEN 'COMPANY' ELSE '{cause}' END AS cause,"
        f" {now} AS at{n} FROM {source}"
        f" {was} <> {is_} AND NOT {is_listed} AND NOT {is_excluded}{ordered}",
        p.values,
        ctes=ctes,
        nesting=nesting,
        numbered=numbered,
        # (one segment over the site: one cause, one moment, two kinds)
        alike=numbered and not nesting,
        by_member=(order(cat, pks, "segment_id").removesuffix(", ") or "0")
        if in_member_order
        else None,
    )
    return written


async def _edit(w: Writer, pk: int, over: str, p: Params, cause: str) -> Written:
    """A rule edit's one statement (``over``: the diff of one segment over the site, each
    row a change): the kept matches follow and the changes are recorded from one read of
    the diff, sorted once by member and gathered into arrays (one row): the new matches
    written from one, the leaving ones deleted by their rows from another, the record's
    from the rest. No CTE of the diff's rows, scanned four times and sorted three (a rule
    edit's 35,000 changes: some 20 ms of the statement's 210 ms of CPU less)."""
    site = int(w.site_id)
    now = p.add(w.now, "timestamptz")
    # each row is a change (is_match is NOT was_match): the members entering are the new
    # matches, read from the members with their external ids (one array for both). Planned
    # alone (OFFSET 0), the diff keeps its hash join: sorted with it, the planner
    # merge-joins the members read by primary key, every site's rows
    d = (
        "_d AS (SELECT array_agg(match_key) FILTER (WHERE was_match) AS drops,"
        " array_agg(member_id) FILTER (WHERE is_match) AS entered_ids,"
        " array_agg(member_ref) FILTER (WHERE is_match) AS entered_refs,"
        " array_agg(member_id) FILTER (WHERE member_ref IS NOT NULL AND was_match) AS exited_ids,"
        " array_agg(member_ref) FILTER (WHERE member_ref IS NOT NULL AND was_match)"
        f" AS exited_refs FROM (SELECT * FROM ({over} OFFSET 0) o ORDER BY member_id) o)"
    )
    # the new matches in member order, as aggregated: the index by member (member_id,
    # segment_id) is then filled in one pass along its leaves, not at random; the leaving
    # ones by the rows the diff read them from (no index probe)
    ctes = (
        f"{d}, _a AS (INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
        f" SELECT {site}, {int(pk)}, u.member_id FROM _d CROSS JOIN LATERAL"
        " unnest(_d.entered_ids) AS u(member_id)),"
        " _x AS (DELETE FROM segment_rule_matches"
        " WHERE ctid = ANY((SELECT drops FROM _d)::tid[]))"
    )
    return await emit_kinds(w, pk, cause, now, "_d", p.values, ctes=ctes)


async def _holding(w: Writer, pks: Sequence[int]) -> dict[str, set[int]]:
    """Which of the segments have listings, listed companies, exclusions."""
    among = ", ".join(str(int(pk)) for pk in pks)
    found: dict[str, set[int]] = {}
    for kind, table in (
        ("listings", "segment_members"),
        ("companies", "segment_companies"),
        ("exclusions", "segment_exclusions"),
    ):
        rows = await w.rows(
            f"SELECT s.id FROM segments s WHERE s.id IN ({among})"
            f" AND EXISTS (SELECT 1 FROM {table} t WHERE t.segment_id = s.id)"
        )
        found[kind] = {int(r["id"]) for r in rows}
    return found


def _only(having: set[int], pks: Sequence[int], probe: str, w: Writer) -> str:
    """The probe, asked only of the segments that have rows to probe (FALSE for none)."""
    if not having:
        return w.false()
    if having >= set(pks):
        return probe
    return f"(d.segment_id IN ({', '.join(str(pk) for pk in sorted(having))}) AND {probe})"


def _nesting(cat: Catalogue, segments: Sequence[SegmentDef]) -> Nesting:
    """NESTED for a change whose segment names a segment that changed for the member too."""
    found = []
    for s in segments:
        named = names(cat, s)
        if named:
            found.append((int(s.pk), sorted(named)))
    return found


async def cascade(w: Writer, written: Written, changed: Iterable[int] | None = None) -> None:
    """Re-evaluate the DYNAMIC segments whose rules name a segment that changed in
    ``written`` (NESTED), for the members it changed for."""
    if not written.count:
        return
    cat = await catalogue.get(w.site_id, connection=w.tx)
    if changed is None:
        rows = await w.rows(
            "SELECT DISTINCT segment_id FROM membership_changes WHERE site_id = $1"
            f" AND id BETWEEN {written.first} AND {written.last}",
            [w.site_id],
        )
        changed = [int(r["segment_id"]) for r in rows]
    todo = dependents(cat, changed)
    if not todo:
        return
    await scope_members(
        w,
        member_ids_of(w.pg, f"c.site_id = $1 AND c.id BETWEEN {written.first} AND {written.last}"),
        [w.site_id],
    )
    await refresh(w, cat, todo, scoped=True, cause="NESTED")
