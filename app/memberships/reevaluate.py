"""The rules re-evaluated for a few members (the upserted ones) and many rules: the changes of
their matches, for each member only the rules reading a field its write changed. On PostgreSQL
in one statement (``diff_in_sql``), else by the Python evaluator (``diff_in_python``)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson

from app.db import as_datetime, json_value
from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.dependencies import by_level, names
from app.memberships.effective import Conditions, Query, needs_company
from app.memberships.kept import Writer, id_list, live
from app.rules import CompanyFacts, MemberFacts, fields_of, typed_value
from app.rules.evaluate import context as evaluation_context

_YIELD_EVERY = 500  # members evaluated between two yields to the event loop


def _reads(cat: Catalogue, segment: SegmentDef) -> frozenset[str]:
    """The fields the rule reads, with those of the rules it names; "company" when it names
    a segment (a move between companies may change that segment for the member)."""
    paths: set[str] = set()
    for s in [segment, *(cat.by_pk[pk] for pk in names(cat, segment))]:
        if s.rule is not None:
            paths.update(fields_of(s.rule))
    if names(cat, segment):
        paths.add("company")
    return frozenset(paths)


def _touches(reads: frozenset[str], changed: frozenset[str]) -> bool:
    return any(p == c or p.startswith(c + ".") for p in reads for c in changed)


def _relevant(
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    changed: dict[str, frozenset[str] | None] | None,
) -> dict[frozenset[str] | None, list[SegmentDef]]:
    """The segments whose rules a member's write may have changed the answer of, by the
    fields it changed (None: every segment, for a new member or a member not in ``changed``)."""
    relevant: dict[frozenset[str] | None, list[SegmentDef]] = {None: list(segments)}
    if changed is not None:
        reads = {s.pk: _reads(cat, s) for s in segments}
        for fields in set(changed.values()):
            if fields is not None:
                relevant[fields] = [s for s in segments if _touches(reads[s.pk], fields)]
    return relevant


async def diff_in_sql(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    changed: dict[str, frozenset[str] | None] | None = None,
) -> int:
    """``diff_in_python`` in one statement (PostgreSQL): the facts of _scope's members read
    once (with each JSON field the rules test, of each type they test it as, extracted once
    a member: the rules then compare columns), every rule evaluated over them (in one pass,
    each member's matches an array; only the rules reading a field the member's write
    changed), diffed against the member's kept matches of the same rules, also an array;
    returns how many."""
    dynamic = [s for s in segments if s.dynamic]
    relevant = _relevant(cat, dynamic, changed)
    # a group a distinct set of rules asked: the members of a group are asked the same rules
    groups: dict[frozenset[int], int] = {}
    group_of: dict[frozenset[str] | None, int] = {}
    for fields, asked in relevant.items():
        group_of[fields] = groups.setdefault(frozenset(s.pk for s in asked), len(groups))
    if changed is not None and not any(relevant[f] for f in set(changed.values())):
        return 0  # no member's write changed a field any rule reads
    asked_by = {g: pks for pks, g in groups.items()}
    q = Query()
    held: dict[tuple[str, str], tuple[str, str]] = {}

    def hold(spec: Any, kind: str) -> str | None:
        if spec.owner != "member":
            return None
        key = (spec.path, kind)
        if key not in held:
            value = typed_value(spec, kind, "postgres")
            if value is None:
                return None
            held[key] = (f"v{len(held)}", value)
        return f"m.{held[key][0]}"

    conditions = Conditions(cat, q, w.now, hold)
    # each member's matches as one array: every rule asked of it, in one pass over the
    # facts (one CTE scan a rule, each a plan node over every member, cost more than the
    # rules themselves)
    cases = []
    for s in dynamic:
        among = [g for pks, g in groups.items() if s.pk in pks]
        if not among:
            continue
        # (the group first: a rule not asked of the member is not evaluated)
        only = "" if len(among) == len(groups) else f"m.grp IN ({id_list(among)}) AND "
        cases.append(f"CASE WHEN {only}COALESCE({conditions.rule(s)}, FALSE) THEN {int(s.pk)} END")
    if not cases:
        return 0
    company = (
        " LEFT JOIN companies c ON c.id = m.company_id"
        if any(needs_company(cat, s) for s in dynamic)
        else ""
    )
    if len(groups) == 1:
        grp, joined = "0", ""
        kept = f"r.segment_id IN ({id_list(sorted(next(iter(groups))))})"
    else:
        refs = list(changed or {})
        numbers = [group_of[(changed or {})[ref]] for ref in refs]
        grp = f"COALESCE(g.n, {group_of[None]})"
        joined = (
            f" LEFT JOIN unnest({q.bind(refs)}::text[], {q.bind(numbers)}::int[]) AS g(r, n)"
            " ON g.r = m.external_id"
        )
        whens = " ".join(
            f"WHEN {g} THEN r.segment_id IN ({id_list(sorted(pks))})" for g, pks in asked_by.items()
        )
        kept = f"CASE m.grp {whens} ELSE FALSE END"
    values = "".join(f", {sql} AS {name}" for name, sql in held.values())
    facts = (
        "SELECT m.id, m.external_id, m.email, m.name, m.created_at, m.updated_at, m.attributes,"
        f" m.bucket, m.company_id, {grp} AS grp{values}"
        # one probe a member (whatever the planner believes: it would rather hash a scan of
        # every member of the table, the other sites' too)
        " FROM _scope s CROSS JOIN LATERAL (SELECT * FROM members x WHERE x.id = s.member_id"
        f" LIMIT 1) m{joined}"
    )
    return await w.insert(
        "INSERT INTO _diff (segment_id, member_id, member_ref, was_match, is_match)"
        # a member's matches and kept matches compared as arrays (a few each): no sort, no
        # join of the pairs of every member
        " SELECT n.s, m.id, m.external_id, FALSE, TRUE FROM x m"
        " CROSS JOIN LATERAL unnest(m.segs) AS n(s) WHERE n.s <> ALL(m.ks)"
        " UNION ALL SELECT k.s, m.id, m.external_id, TRUE, FALSE FROM x m"
        " CROSS JOIN LATERAL unnest(m.ks) AS k(s) WHERE k.s <> ALL(m.segs)",
        q.params,
        # (f MATERIALIZED: else its typed JSON values are computed again wherever a rule
        # reads them)
        ctes=f"f AS MATERIALIZED ({facts}),"
        f" e AS (SELECT m.id, m.external_id, m.grp, array_remove(ARRAY[{', '.join(cases)}]"
        f"::bigint[], NULL) AS segs FROM f m{company}),"
        # each member's kept matches from the index (member_id, segment_id) alone, not a
        # scan of every match of the site however few members are upserted
        " x AS MATERIALIZED (SELECT m.id, m.external_id, m.segs, COALESCE(k.ks, '{}') AS ks"
        " FROM e m LEFT JOIN LATERAL (SELECT array_agg(r.segment_id) AS ks"
        f" FROM segment_rule_matches r WHERE r.member_id = m.id AND {kept}) k ON TRUE)",
    )


async def diff_in_python(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    changed: dict[str, frozenset[str] | None] | None = None,
) -> int:
    """Fill _diff with the match changes of ``segments`` over _scope's members (with their
    external ids), the rules
    evaluated in Python (in dependency order; in_segment() answered afresh from the
    member's lists and the named rule; for each member only the rules reading a field its
    write changed, when ``changed`` says); returns how many."""
    ordered = [s for s in by_level(cat, segments) if s.dynamic and s.check is not None]
    relevant: dict[frozenset[str] | None, list[tuple[int, Any]]] = {
        fields: [(s.pk, s.check) for s in asked]
        for fields, asked in _relevant(cat, ordered, changed).items()
    }
    if changed is not None and not any(relevant[f] for f in set(changed.values())):
        return 0  # no member's write changed a field any rule reads
    # the rules each group of members is asked, as a set once (not once a member)
    asked_pks = {fields: {pk for pk, _ in checks} for fields, checks in relevant.items()}
    rows = await w.rows(
        "SELECT m.id, m.external_id, m.email, m.name, m.created_at, m.updated_at,"
        " m.attributes, m.bucket, c.external_id AS c_ext, c.name AS c_name, c.plan AS c_plan,"
        " c.attributes AS c_attributes FROM _scope s JOIN members m ON m.id = s.member_id"
        " LEFT JOIN companies c ON c.id = m.company_id"
    )
    named: set[int] = set()
    for s in segments:
        named |= names(cat, s)
    ties: dict[int, dict[int, str]] = {}
    if named:
        p = w.params()
        now = p.add(w.now, "timestamptz")
        among = ", ".join(str(pk) for pk in sorted(named))
        for row in await w.rows(
            "SELECT l.member_id AS mid, l.segment_id AS seg, 'L' AS k FROM _scope s"
            " JOIN segment_members l ON l.member_id = s.member_id"
            f" WHERE l.segment_id IN ({among}) AND {live('l', now)}"
            " UNION ALL SELECT m.id, sc.segment_id, 'C' FROM _scope s"
            " JOIN members m ON m.id = s.member_id"
            " JOIN segment_companies sc ON sc.company_id = m.company_id"
            f" WHERE sc.segment_id IN ({among})"
            " UNION ALL SELECT x.member_id, x.segment_id, 'X' FROM _scope s"
            " JOIN segment_exclusions x ON x.member_id = s.member_id"
            f" WHERE x.segment_id IN ({among})",
            p.values,
        ):
            tie = ties.setdefault(int(row["mid"]), {})
            seg = int(row["seg"])
            tie[seg] = "X" if row["k"] == "X" or tie.get(seg) == "X" else "M"
    pks = ", ".join(str(int(s.pk)) for s in segments)
    # one row a member, its kept matches as one list (a row a match would be tens per member)
    listing = "array_agg(r.segment_id)" if w.pg else "group_concat(r.segment_id)"
    kept: dict[int, set[int]] = {}
    for r in await w.rows(
        f"SELECT r.member_id, {listing} AS segs FROM _scope s"
        " JOIN segment_rule_matches r ON r.member_id = s.member_id"
        f" WHERE r.segment_id IN ({pks}) GROUP BY r.member_id"
    ):
        segs = r["segs"]
        kept[int(r["member_id"])] = (
            set(segs) if isinstance(segs, list) else {int(x) for x in str(segs).split(",")}
        )
    entering: list[tuple[int, int, str]] = []
    exiting: list[tuple[int, int, str]] = []
    for done, row in enumerate(rows, 1):
        if not done % _YIELD_EVERY:
            # a cancellation (the request's deadline) lands here, not after the whole batch
            await asyncio.sleep(0)
        pk, ref = int(row["id"]), str(row["external_id"])
        fields = None if changed is None else changed.get(ref)
        checks = relevant[fields]
        if not checks:
            continue
        member = _Answers(cat, ties.get(pk, {}), _facts(row), w.now)
        ctx, answers = member.ctx, member.answers
        matches = set()
        for segment_pk, check in checks:
            hit = answers.get(segment_pk)
            if hit is None:
                hit = answers[segment_pk] = check(ctx) is True
            if hit:
                matches.add(segment_pk)
        # only the rules asked can have changed their answer
        had = kept[pk] & asked_pks[fields] if pk in kept else set()
        entering.extend((s, pk, ref) for s in matches - had)
        exiting.extend((s, pk, ref) for s in had - matches)
    if not entering and not exiting:
        return 0
    diff = [(s, m, r, False, True) for s, m, r in entering]
    diff += [(s, m, r, True, False) for s, m, r in exiting]
    p = w.params()
    if w.pg:
        columns = list(zip(*diff, strict=True))
        source = (
            f"unnest({p.add(list(columns[0]), 'bigint[]')}, {p.add(list(columns[1]), 'bigint[]')},"
            f" {p.add(list(columns[2]), 'text[]')}, {p.add(list(columns[3]), 'boolean[]')},"
            f" {p.add(list(columns[4]), 'boolean[]')}) AS t(s, m, r, w, i)"
        )
        select = "SELECT t.s, t.m, t.r, t.w, t.i"
    else:
        source = f"json_each({p.add(orjson.dumps(diff).decode(), 'text')}) AS t"
        select = (
            "SELECT json_extract(t.value, '$[0]'), json_extract(t.value, '$[1]'),"
            " json_extract(t.value, '$[2]'), json_extract(t.value, '$[3]'),"
            " json_extract(t.value, '$[4]')"
        )
    await w.run(
        f"INSERT INTO _diff (segment_id, member_id, member_ref, was_match, is_match) {select}"
        f" FROM {source}",
        p.values,
    )
    return len(diff)


class _Answers:
    """One member's rule answers, memoized: in_segment() reads the member's lists of the
    named segment, else (DYNAMIC) its rule."""

    def __init__(
        self, cat: Catalogue, ties: dict[int, str], facts: MemberFacts, now: datetime
    ) -> None:
        self.cat = cat
        self.ties = ties
        self.answers: dict[int, bool] = {}
        self.ctx = evaluation_context(facts, in_segment=self.in_segment, now=now)

    def rule(self, segment: SegmentDef) -> bool:
        if segment.pk not in self.answers:
            check = segment.check
            self.answers[segment.pk] = check is not None and check(self.ctx) is True
        return self.answers[segment.pk]

    def in_segment(self, name: str) -> bool | None:
        other = self.cat.by_name.get(name)
        if other is None:
            return None
        tie = self.ties.get(other.pk)
        if tie is not None:
            return tie == "M"
        return other.dynamic and self.rule(other)


def _facts(row: dict[str, Any]) -> MemberFacts:
    company = None
    if row["c_ext"] is not None:
        attributes = json_value(row["c_attributes"])
        company = CompanyFacts(
            external_id=row["c_ext"],
            name=row["c_name"],
            plan=row["c_plan"],
            attributes=attributes if isinstance(attributes, dict) else {},
        )
    attributes = json_value(row["attributes"])
    created, updated = as_datetime(row["created_at"]), as_datetime(row["updated_at"])
    assert created is not None and updated is not None
    return MemberFacts(
        external_id=row["external_id"],
        email=row["email"],
        name=row["name"],
        created_at=created,
        updated_at=updated,
        attributes=attributes if isinstance(attributes, dict) else {},
        bucket=int(row["bucket"]),
        company=company,
    )
