"""The rules compiled to SQL over a site's members: the pairs each rule matches now, and how
they differ from the kept matches."""

from __future__ import annotations

from collections.abc import Sequence

from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.memberships.kept import Writer


def _bool(pg: bool, value: str) -> str:
    return value if pg else f"({value})"


def matches_select(
    w: Writer, cat: Catalogue, segments: Sequence[SegmentDef], q: Query, *, scoped: bool
) -> str:
    """(segment_id, member_id) of every member (of _scope) each rule matches, now."""
    dynamic = [s for s in segments if s.dynamic]
    if not dynamic:
        return w.null_pair() + (" WHERE FALSE" if w.pg else " WHERE 0")
    conditions = Conditions(cat, q, w.now)
    source = members_from(any(needs_company(cat, s) for s in dynamic))
    if scoped:
        source += " JOIN _scope s ON s.member_id = m.id"
    site = f"m.site_id = {int(w.site_id)}"
    # one scan a rule: PostgreSQL evaluates a rule over a scan faster than many rules over a
    # LATERAL list of them (measured: 2 against 8 µs a member and rule)
    return " UNION ALL ".join(
        f"SELECT {int(s.pk)} AS segment_id, m.id AS member_id FROM {source}"
        f" WHERE {site} AND COALESCE({conditions.rule(s)}, {w.false()})"
        for s in dynamic
    )


def over_site(
    w: Writer, cat: Catalogue, segments: Sequence[SegmentDef], q: Query, *, keyed: bool = False
) -> str:
    """The match changes of ``segments`` over every member of the site (the columns of
    _diff: segment_id, member_id, member_ref, was_match, is_match): one scan of the members a
    segment, joined to its kept matches (LEFT JOIN), keeping the members whose rule answer
    differs from the kept match (a segment no longer DYNAMIC: each of its kept matches).
    ``keyed`` (PostgreSQL, read in the statement that writes the matches): one column more,
    match_key, the kept match's row (its ctid) for the delete of those that stop matching."""
    conditions = Conditions(cat, q, w.now)
    site = int(w.site_id)
    key = ", k.ctid AS match_key" if keyed else ""
    arms = []
    for s in segments:
        pk = int(s.pk)
        if s.dynamic:
            answer = f"CASE WHEN {conditions.rule(s)} THEN 1 ELSE 0 END"
            arms.append(
                f"SELECT {pk} AS segment_id, m.id AS member_id, m.external_id AS member_ref,"
                " k.member_id IS NOT NULL AS was_match, k.member_id IS NULL AS is_match"
                f"{key} FROM {members_from(needs_company(cat, s))} LEFT JOIN segment_rule_matches k"
                f" ON k.segment_id = {pk} AND k.member_id = m.id WHERE m.site_id = {site}"
                f" AND CASE WHEN k.member_id IS NULL THEN 0 ELSE 1 END <> {answer}"
            )
        else:
            arms.append(
                f"SELECT {pk} AS segment_id, k.member_id, m.external_id AS member_ref,"
                f" {_bool(w.pg, 'TRUE')} AS was_match, {_bool(w.pg, 'FALSE')} AS is_match{key}"
                " FROM segment_rule_matches k LEFT JOIN members m ON m.id = k.member_id"
                f" WHERE k.segment_id = {pk}"
            )
    return " UNION ALL ".join(arms)
