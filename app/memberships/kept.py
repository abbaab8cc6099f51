"""Kept membership: the record, the kept rule matches and the kept counters, written set-based.

Every writer of a site's membership calls ``ensure_site`` first (the site's membership lock,
held to commit; on first use it builds the site's kept rows from scratch and, on every use,
records the listing expiries due since the last one), then writes its changes of effective
membership through ``emit``: one ``INSERT ... SELECT`` into ``membership_changes`` whose rows
move the kept counters by (entered - exited) in the same statement. Rule matches change
through ``refresh``: the rule (app.memberships.effective, compiled to SQL) evaluated over a
scope of members for several segments in one statement, diffed with the kept matches; the
pairs whose effective answer flips become records. ``cascade`` re-evaluates the segments
whose rules name (through ``in_segment()``) a segment whose membership just changed, for the
members it changed for. Nothing here loops over members in Python.

Effective membership of (S, m), as the kept rows say it: (listed in S, unexpired) OR (m's
company listed in S) OR (a kept match of S) AND NOT excluded from S. Only a flip of that
answer is recorded, once; a write that flips nothing records nothing.

app.changes (the record's readers) sits above this package and re-exports what they use.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params, as_datetime, execute, fetch, is_postgres, json_value, ts
from app.live.broker import broker
from app.memberships import catalogue
from app.memberships.catalogue import Catalogue, SegmentDef
from app.memberships.effective import Conditions, Query, members_from, needs_company
from app.rules import (
    CompanyFacts,
    MemberFacts,
    fields_of,
    nodes,
    segment_names_of,
    typed_value,
)
from app.rules.evaluate import context as evaluation_context

TOPIC = "membership.changes"  # told at commit with {"upto": last id written}

ENTERED, EXITED = "ENTERED", "EXITED"

_LOCKED = "_membership_sites_locked"  # attribute of a transaction: the sites it has locked


# --------------------------------------------------------------------------- SQL pieces


def live(alias: str, now: str) -> str:
    """The listing ``alias`` has not expired at ``now`` (a bound timestamp)."""
    return f"({alias}.expires_at IS NULL OR {alias}.expires_at > {now})"


def listed(seg: str, mem: str, now: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM segment_members kl WHERE kl.segment_id = {seg}"
        f" AND kl.member_id = {mem} AND {live('kl', now)})"
    )


def company_listed(seg: str, company: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM segment_companies kc WHERE kc.segment_id = {seg}"
        f" AND kc.company_id = {company})"
    )


def matched(seg: str, mem: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM segment_rule_matches kr WHERE kr.segment_id = {seg}"
        f" AND kr.member_id = {mem})"
    )


def excluded(seg: str, mem: str) -> str:
    return (
        f"EXISTS (SELECT 1 FROM segment_exclusions kx WHERE kx.segment_id = {seg}"
        f" AND kx.member_id = {mem})"
    )


def is_member(seg: str, mem: str, company: str, now: str) -> str:
    """Effective membership of the pair as the kept rows say it."""
    return (
        f"(({listed(seg, mem, now)} OR {company_listed(seg, company)} OR {matched(seg, mem)})"
        f" AND NOT {excluded(seg, mem)})"
    )


@dataclass
class Writer:
    """One writer's transaction on one site: the connection, the dialect and its clock."""

    tx: BaseDBAsyncClient
    site_id: int
    now: datetime

    @property
    def pg(self) -> bool:
        return is_postgres(self.tx)

    def params(self) -> Params:
        return Params(self.tx)

    async def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await fetch(text, params, self.tx)

    async def run(self, text: str, params: Sequence[Any] = ()) -> int:
        return await execute(text, params, self.tx)

    async def insert(self, insert: str, params: Sequence[Any] = (), *, ctes: str = "") -> int:
        """Run an INSERT (after the CTEs ``ctes``, "name AS (...), ...") and return how many
        rows it wrote (the driver's own count of an INSERT is not to be trusted)."""
        if self.pg:
            head = f"WITH {ctes}, " if ctes else "WITH "
            rows = await self.rows(
                f"{head}i AS ({insert} RETURNING 1) SELECT COUNT(*) AS n FROM i", params
            )
            return int(rows[0]["n"])
        await self.run(f"WITH {ctes} {insert}" if ctes else insert, params)
        return int((await self.rows("SELECT changes() AS n"))[0]["n"])

    async def temp(self, name: str, columns: str, *, unique: str | None = None) -> None:
        """An empty temporary table (made once per transaction on PostgreSQL)."""
        if self.pg:
            await self.run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DROP")
        else:
            await self.run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})")
        if unique:
            await self.run(f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} ({unique})")
        await self.run(f"DELETE FROM {name}")

    async def analyze(self, name: str, rows: int) -> None:
        # without statistics PostgreSQL takes a filled temporary table for a tiny one and may
        # scan a big table to join it
        if self.pg and rows > 1000:
            await self.run(f"ANALYZE {name}")

    def null_pair(self) -> str:
        if self.pg:
            return "SELECT CAST(NULL AS bigint) AS segment_id, CAST(NULL AS bigint) AS member_id"
        return "SELECT NULL AS segment_id, NULL AS member_id"

    def false(self) -> str:
        return "FALSE" if self.pg else "0"


def _bool(pg: bool, value: str) -> str:
    return value if pg else f"({value})"


# --------------------------------------------------------------------------- the site lock


async def ensure_site(
    site_id: int, tx: BaseDBAsyncClient, now: datetime, *, expire: bool = True
) -> None:
    """Hold the site's membership lock until ``tx`` ends (once per transaction): on first use
    of a site build its kept rows from scratch (``rebuild``, no records: its history starts
    now); then record the listing expiries due since the last writer or sweep (EXPIRED)."""
    locked: set[int] | None = getattr(tx, _LOCKED, None)
    if locked is not None and site_id in locked:
        return
    if is_postgres(tx):
        # the statements here are estimated on temporary tables without statistics: the
        # planner's guesses make PostgreSQL JIT-compile them, which costs more than running
        # them (measured: 470 of 800 ms recording 33,000 changes). For this transaction only.
        await execute("SET LOCAL jit = off", [], tx)
        # a write's sets (the facts of thousands of members, their kept matches, the changes
        # to sort) spill to disk at the default 4 MB and are read back once a rule: measured
        # 350 MB of temporary reads for 10,000 upserted members and 100 rules. For this
        # transaction only.
        await execute("SET LOCAL work_mem = '64MB'", [], tx)
    made = await fetch(
        "INSERT INTO membership_sites (site_id, history_from, swept_at, expired_to)"
        " VALUES ($1, $2, $2, $2)"
        " ON CONFLICT (site_id) DO NOTHING RETURNING id",
        [site_id, ts(now, tx)],
        tx,
    )
    lock = " FOR UPDATE" if is_postgres(tx) else ""
    row = (
        await fetch(
            f"SELECT expired_to FROM membership_sites WHERE site_id = $1{lock}", [site_id], tx
        )
    )[0]
    if locked is None:
        locked = set()
        setattr(tx, _LOCKED, locked)
    locked.add(site_id)
    writer = Writer(tx, site_id, now)
    if made:
        await rebuild(writer)
    elif expire:
        await expire_listings(writer, row["expired_to"])


BUSY: Any = object()  # try_lock: another transaction holds the site's lock


async def try_lock(w: Writer) -> Any:
    """The sweeper's ensure_site: the site's lock unless another transaction holds it
    (``BUSY``; PostgreSQL), and the site's expiry watermark (now when its kept rows were
    just built: nothing is due before now)."""
    rows = await w.rows(
        "SELECT expired_to FROM membership_sites WHERE site_id = $1"
        + (" FOR UPDATE SKIP LOCKED" if w.pg else ""),
        [w.site_id],
    )
    if rows:
        setattr(w.tx, _LOCKED, {w.site_id})
        return rows[0]["expired_to"]
    exists = await w.rows("SELECT 1 AS x FROM membership_sites WHERE site_id = $1", [w.site_id])
    if exists:
        return BUSY
    await ensure_site(w.site_id, w.tx, w.now, expire=False)
    return w.now


# --------------------------------------------------------------------------- rebuild


async def rebuild(w: Writer) -> None:
    """The site's kept matches and counters computed from scratch (no records are written)."""
    cat = await catalogue.get(w.site_id, connection=w.tx)
    await w.run("DELETE FROM segment_rule_matches WHERE site_id = $1", [w.site_id])
    await w.run("DELETE FROM segment_counts WHERE site_id = $1", [w.site_id])
    if cat.dynamic:
        q = Query()
        select = _matches_select(w, cat, cat.dynamic, q, scoped=False)
        await w.run(
            "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
            f" SELECT {int(w.site_id)}, n.segment_id, n.member_id FROM ({select}) n",
            q.params,
        )
    p = w.params()
    await w.run(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        f" SELECT s.site_id, s.id, COALESCE(e.n, 0), COALESCE(c.n, 0) FROM segments s"
        f" LEFT JOIN ({counts_select(p.add(w.now, 'timestamptz'), w.site_id)}) e"
        " ON e.segment_id = s.id"
        " LEFT JOIN (SELECT segment_id, COUNT(*) AS n FROM segment_companies"
        f" WHERE site_id = {int(w.site_id)} GROUP BY segment_id) c ON c.segment_id = s.id"
        f" WHERE s.site_id = {int(w.site_id)}",
        p.values,
    )


def counts_select(now: str, site_id: int) -> str:
    """(segment_id, n): each segment's effective member count from the kept rows."""
    site = int(site_id)
    return (
        "SELECT u.segment_id, COUNT(*) AS n FROM ("
        f"SELECT l.segment_id, l.member_id FROM segment_members l WHERE l.site_id = {site}"
        f" AND {live('l', now)}"
        " UNION SELECT sc.segment_id, m.id FROM segment_companies sc"
        f" JOIN members m ON m.company_id = sc.company_id WHERE sc.site_id = {site}"
        f" UNION SELECT r.segment_id, r.member_id FROM segment_rule_matches r"
        f" WHERE r.site_id = {site}) u"
        f" WHERE NOT {excluded('u.segment_id', 'u.member_id')} GROUP BY u.segment_id"
    )


async def new_segment(w: Writer, segment_id: int) -> None:
    """A segment's counters row, made with the segment."""
    await w.run(
        "INSERT INTO segment_counts (site_id, segment_id, member_count, company_count)"
        " VALUES ($1, $2, 0, 0) ON CONFLICT (segment_id) DO NOTHING",
        [w.site_id, segment_id],
    )


async def move_company_count(w: Writer, segment_id: int, delta: int) -> None:
    if delta:
        await w.run(
            "UPDATE segment_counts SET company_count = company_count + $1 WHERE segment_id = $2",
            [delta, segment_id],
        )


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Written:
    """The ids of the records one ``emit`` wrote (``first`` > ``last`` when none)."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return max(self.last - self.first + 1, 0)


NOTHING = Written(1, 0)


async def emit(w: Writer, select: str, params: Sequence[Any], *, ctes: str = "") -> Written:
    """Record the changes ``select`` gives, in its order (columns segment_id, member_id,
    member_ref, kind, cause, at), move the counters by them, and tell the topic at commit.
    ``ctes`` ("name AS (...), ...", PostgreSQL): CTEs of the same statement ``select`` may
    read (and writes it makes with them)."""
    site = int(w.site_id)
    insert = (
        "INSERT INTO membership_changes (site_id, segment_id, member_id, member_ref, kind,"
        f" cause, at) SELECT {site}, f.segment_id, f.member_id, f.member_ref, f.kind, f.cause,"
        f" f.at FROM ({select}) f"
    )
    if w.pg:
        row = (
            await w.rows(
                f"WITH {ctes + ',' if ctes else ''} w AS ({insert} RETURNING id, segment_id, kind),"
                " d AS (SELECT segment_id, SUM(CASE WHEN kind = 'ENTERED' THEN 1 ELSE -1 END)"
                " AS n FROM w GROUP BY segment_id),"
                " u AS (UPDATE segment_counts k SET member_count = k.member_count + d.n FROM d"
                " WHERE k.segment_id = d.segment_id RETURNING 1)"
                " SELECT COALESCE(MIN(id), 1) AS lo, COALESCE(MAX(id), 0) AS hi FROM w",
                params,
            )
        )[0]
        written = Written(int(row["lo"]), int(row["hi"]))
    else:
        assert not ctes, "SQLite writes no CTE"
        await w.run(insert, params)
        row = (await w.rows("SELECT changes() AS n, last_insert_rowid() AS hi"))[0]
        n = int(row["n"])
        written = Written(int(row["hi"]) - n + 1, int(row["hi"])) if n else NOTHING
        if n:
            span = f"c.id BETWEEN {written.first} AND {written.last}"
            await w.run(
                "UPDATE segment_counts SET member_count = member_count + (SELECT"
                " SUM(CASE WHEN c.kind = 'ENTERED' THEN 1 ELSE -1 END) FROM membership_changes c"
                f" WHERE {span} AND c.segment_id = segment_counts.segment_id)"
                f" WHERE segment_id IN (SELECT c.segment_id FROM membership_changes c"
                f" WHERE {span})"
            )
    if written.count:
        await broker.publish(
            topic=TOPIC, site_id=w.site_id, payload={"upto": written.last}, connection=w.tx
        )
    return written


# --------------------------------------------------------------------------- rules


def _walk(node: nodes.Node) -> Iterable[nodes.Node]:
    yield node
    for child in getattr(node, "operands", ()) or ():
        yield from _walk(child)
    operand = getattr(node, "operand", None)
    if isinstance(operand, nodes.Node):
        yield from _walk(operand)


def uses_clock(segment: SegmentDef) -> bool:
    """Whether the rule itself counts days back from now (days_ago())."""
    if segment.rule is None:
        return False
    for node in _walk(segment.rule):
        values: list[Any] = []
        for name in ("value", "low", "high"):
            values.append(getattr(node, name, None))
        values.extend(getattr(node, "values", ()) or ())
        if any(isinstance(v, nodes.DaysAgo) for v in values):
            return True
    return False


def names(cat: Catalogue, segment: SegmentDef) -> set[int]:
    """The segments the rule names through in_segment(), directly or through theirs."""
    found: set[int] = set()
    todo = [segment]
    while todo:
        current = todo.pop()
        if current.rule is None:
            continue
        for name in segment_names_of(current.rule):
            other = cat.by_name.get(name)
            if other is not None and other.pk not in found:
                found.add(other.pk)
                todo.append(other)
    return found


def dependents(cat: Catalogue, changed: Iterable[int]) -> list[SegmentDef]:
    """The DYNAMIC segments whose rules name any of ``changed``, directly or not."""
    wanted = set(changed)
    return [s for s in cat.dynamic if names(cat, s) & wanted]


def _level(cat: Catalogue, segment: SegmentDef, seen: frozenset[int] = frozenset()) -> int:
    if segment.rule is None or segment.pk in seen:
        return 0
    below = [cat.by_name[n] for n in segment_names_of(segment.rule) if n in cat.by_name]
    return 1 + max((_level(cat, b, seen | {segment.pk}) for b in below), default=-1)


def _order(cat: Catalogue, pks: Sequence[int], column: str) -> str:
    """ORDER BY terms putting a segment's changes after those of the segments it names."""
    levels = {pk: _level(cat, cat.by_pk[pk]) for pk in pks if pk in cat.by_pk}
    if len(set(levels.values())) <= 1:
        return ""
    cases = " ".join(f"WHEN {int(pk)} THEN {lvl}" for pk, lvl in levels.items())
    return f"CASE {column} {cases} ELSE 0 END, "


def _matches_select(
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


# --------------------------------------------------------------------------- refresh


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
        over = _over_site(w, cat, segments, Query(p.values))
        diff = (
            "_diff AS MATERIALIZED (SELECT o.*, CAST(NULL AS boolean) AS was_company,"
            f" CAST(NULL AS boolean) AS is_company FROM ({over}) o),"
        )
        return await _record_diff(w, cat, segments, p, cause, nested, refs=True, diff=diff)
    await w.temp(
        "_diff",
        "segment_id bigint NOT NULL, member_id bigint NOT NULL, was_match boolean,"
        " is_match boolean, was_company boolean, is_company boolean, member_ref text,"
        " match_id bigint"
        if w.pg
        else "segment_id INTEGER NOT NULL, member_id INTEGER NOT NULL, was_match INTEGER,"
        " is_match INTEGER, was_company INTEGER, is_company INTEGER, member_ref TEXT,"
        " match_id INTEGER",
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
        diffs = await _diff_in_sql(w, cat, segments, changed)
    elif in_python:
        diffs = await _diff_in_python(w, cat, segments, changed)
    elif refs:
        q = Query()
        diffs = await w.insert(
            "INSERT INTO _diff (segment_id, member_id, member_ref, was_match, is_match)"
            f" {_over_site(w, cat, segments, q)}",
            q.params,
        )
    else:
        q = Query()
        new = _matches_select(w, cat, segments, q, scoped=scoped)
        in_scope = " JOIN _scope s ON s.member_id = r.member_id" if scoped else ""
        kept = (
            f"SELECT r.segment_id, r.member_id FROM segment_rule_matches r{in_scope}"
            f" WHERE r.segment_id IN ({_among(pks)})"
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
    await w.analyze("_diff", diffs)
    by_id = in_python and w.pg
    return await _record_diff(w, cat, segments, p, cause, nested, refs=refs, by_id=by_id)


async def _record_diff(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    p: Params,
    cause: str,
    nested: bool,
    *,
    refs: bool,
    diff: str = "",
    by_id: bool = False,
) -> Written:
    """The kept matches follow _diff (the table, or the CTE ``diff`` of the same statement,
    PostgreSQL), and each pair whose effective answer flips is recorded with ``cause``.
    ``by_id`` (PostgreSQL): the rows of _diff leaving a match carry its id (match_id)."""
    pks = [s.pk for s in segments]
    site = int(w.site_id)
    add = (
        "INSERT INTO segment_rule_matches (site_id, segment_id, member_id)"
        f" SELECT {site}, segment_id, member_id FROM _diff WHERE is_match AND NOT was_match"
    )
    # the segments named outright: else PostgreSQL hashes _diff and scans every kept match
    # of the site (measured: 157 ms for 24,000 of 700,000 matches)
    drop = (
        f"DELETE FROM segment_rule_matches WHERE segment_id IN ({_among(pks)})"
        " AND (segment_id, member_id) IN"
        " (SELECT segment_id, member_id FROM _diff WHERE was_match AND NOT is_match)"
    )
    if by_id:
        # by their keys: the matches of many segments named are most of the site's, which
        # PostgreSQL scans and hashes against _diff (measured: 220 ms for 29,000 of 680,000)
        drop = (
            "DELETE FROM segment_rule_matches WHERE id = ANY(ARRAY(SELECT match_id FROM _diff"
            " WHERE was_match AND NOT is_match))"
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
    written = await emit(
        w,
        f"SELECT d.segment_id, d.member_id, {ref} AS member_ref,"
        f" CASE WHEN {is_} THEN 'ENTERED' ELSE 'EXITED' END AS kind,"
        f" CASE WHEN d.was_company IS NOT NULL THEN 'COMPANY' ELSE '{cause}' END AS cause,"
        f" {now} AS at FROM {source}"
        f" {was} <> {is_} AND NOT {is_listed} AND NOT {is_excluded}"
        f" ORDER BY {_order(cat, pks, 'd.segment_id')}d.member_id, d.segment_id",
        p.values,
        ctes=ctes,
    )
    if nested and written.count:
        await _mark_nested(w, cat, segments, written)
    return written


def _among(pks: Sequence[int]) -> str:
    """An IN list of segment ids (NULL, matching nothing, for none)."""
    return ", ".join(str(int(pk)) for pk in pks) or "NULL"


def _over_site(w: Writer, cat: Catalogue, segments: Sequence[SegmentDef], q: Query) -> str:
    """The match changes of ``segments`` over every member of the site (the columns of
    _diff: segment_id, member_id, member_ref, was_match, is_match): one scan of the members a
    segment, joined to its kept matches (LEFT JOIN), keeping the members whose rule answer
    differs from the kept match (a segment no longer DYNAMIC: each of its kept matches)."""
    conditions = Conditions(cat, q, w.now)
    site = int(w.site_id)
    arms = []
    for s in segments:
        pk = int(s.pk)
        if s.dynamic:
            answer = f"CASE WHEN {conditions.rule(s)} THEN 1 ELSE 0 END"
            arms.append(
                f"SELECT {pk} AS segment_id, m.id AS member_id, m.external_id AS member_ref,"
                " k.member_id IS NOT NULL AS was_match, k.member_id IS NULL AS is_match"
                f" FROM {members_from(needs_company(cat, s))} LEFT JOIN segment_rule_matches k"
                f" ON k.segment_id = {pk} AND k.member_id = m.id WHERE m.site_id = {site}"
                f" AND CASE WHEN k.member_id IS NULL THEN 0 ELSE 1 END <> {answer}"
            )
        else:
            arms.append(
                f"SELECT {pk} AS segment_id, k.member_id, m.external_id AS member_ref,"
                f" {_bool(w.pg, 'TRUE')} AS was_match, {_bool(w.pg, 'FALSE')} AS is_match"
                " FROM segment_rule_matches k LEFT JOIN members m ON m.id = k.member_id"
                f" WHERE k.segment_id = {pk}"
            )
    return " UNION ALL ".join(arms)


def _by_level(cat: Catalogue, segments: Sequence[SegmentDef]) -> list[SegmentDef]:
    return sorted(segments, key=lambda s: (_level(cat, s), s.pk))


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


async def _diff_in_sql(
    w: Writer,
    cat: Catalogue,
    segments: Sequence[SegmentDef],
    changed: dict[str, frozenset[str] | None] | None = None,
) -> int:
    """``_diff_in_python`` in one statement (PostgreSQL): the facts of _scope's members read
    once (with each JSON field the rules test, of each type they test it as, extracted once
    a member: the rules then compare columns), every rule evaluated over them (one scan of
    them a rule, only for the members whose write changed a field it reads), diffed against
    the kept matches of the same pairs; returns how many."""
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
    arms = []
    for s in dynamic:
        among = [g for pks, g in groups.items() if s.pk in pks]
        if not among:
            continue
        only = "" if len(among) == len(groups) else f" AND m.grp IN ({_among(among)})"
        company = " LEFT JOIN companies c ON c.id = m.company_id" if needs_company(cat, s) else ""
        arms.append(
            f"SELECT {int(s.pk)} AS segment_id, m.id AS member_id, m.external_id AS member_ref"
            f" FROM f m{company} WHERE COALESCE({conditions.rule(s)}, FALSE){only}"
        )
    if not arms:
        return 0
    if len(groups) == 1:
        grp, joined = "0", ""
        kept = f"r.segment_id IN ({_among(sorted(next(iter(groups))))})"
    else:
        refs = list(changed or {})
        numbers = [group_of[(changed or {})[ref]] for ref in refs]
        grp = f"COALESCE(g.n, {group_of[None]})"
        joined = (
            f" LEFT JOIN unnest({q.bind(refs)}::text[], {q.bind(numbers)}::int[]) AS g(r, n)"
            " ON g.r = m.external_id"
        )
        cases = " ".join(
            f"WHEN {g} THEN r.segment_id IN ({_among(sorted(pks))})" for g, pks in asked_by.items()
        )
        kept = f"CASE m.grp {cases} ELSE FALSE END"
    values = "".join(f", {sql} AS {name}" for name, sql in held.values())
    facts = (
        "SELECT m.id, m.external_id, m.email, m.name, m.created_at, m.updated_at, m.attributes,"
        f" m.bucket, m.company_id, {grp} AS grp{values}"
        f" FROM _scope s JOIN members m ON m.id = s.member_id{joined}"
    )
    return await w.insert(
        "INSERT INTO _diff (segment_id, member_id, member_ref, was_match, is_match, match_id)"
        # (two anti-joins: a FULL JOIN is merged, both sides sorted)
        " SELECT n.segment_id, n.member_id, n.member_ref, FALSE, TRUE, NULL::bigint FROM n"
        " WHERE NOT EXISTS (SELECT 1 FROM k WHERE k.segment_id = n.segment_id"
        " AND k.member_id = n.member_id)"
        " UNION ALL SELECT k.segment_id, k.member_id, k.member_ref, TRUE, FALSE, k.id FROM k"
        " WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.segment_id = k.segment_id"
        " AND n.member_id = k.member_id)",
        q.params,
        ctes=f"f AS MATERIALIZED ({facts}), n AS ({' UNION ALL '.join(arms)}),"
        # each member's kept matches from the index (member_id, segment_id, id), not a
        # scan of every match of the site however few members are upserted
        " k AS (SELECT r.id, r.segment_id, r.member_id, m.external_id AS member_ref FROM f m"
        " CROSS JOIN LATERAL (SELECT r.id, r.segment_id, r.member_id FROM segment_rule_matches r"
        f" WHERE r.member_id = m.id OFFSET 0) r WHERE {kept})",
    )


async def _diff_in_python(
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
    ordered = [s for s in _by_level(cat, segments) if s.dynamic and s.check is not None]
    relevant: dict[frozenset[str] | None, list[tuple[int, Any]]] = {
        fields: [(s.pk, s.check) for s in asked]
        for fields, asked in _relevant(cat, ordered, changed).items()
    }
    if changed is not None and not any(relevant[f] for f in set(changed.values())):
        return 0  # no member's write changed a field any rule reads
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
    for row in rows:
        pk, ref = int(row["id"]), str(row["external_id"])
        checks = relevant[None if changed is None else changed.get(ref)]
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
        had = kept.get(pk, set()) & {segment_pk for segment_pk, _ in checks}
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


async def _mark_nested(
    w: Writer, cat: Catalogue, segments: Sequence[SegmentDef], written: Written
) -> None:
    """NESTED for a change whose segment names a segment that changed for the member too."""
    terms = []
    for s in segments:
        named = names(cat, s)
        if named:
            listed_pks = ", ".join(str(pk) for pk in sorted(named))
            terms.append(
                f"(membership_changes.segment_id = {int(s.pk)} AND EXISTS (SELECT 1"
                " FROM membership_changes g WHERE g.site_id = membership_changes.site_id"
                f" AND g.id BETWEEN {written.first} AND {written.last}"
                f" AND g.member_ref = membership_changes.member_ref"
                f" AND g.segment_id IN ({listed_pks})))"
            )
    if terms:
        await w.run(
            "UPDATE membership_changes SET cause = 'NESTED' WHERE site_id = $1"
            f" AND id BETWEEN {written.first} AND {written.last} AND cause <> 'COMPANY'"
            f" AND ({' OR '.join(terms)})",
            [w.site_id],
        )


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
        "SELECT DISTINCT member_id FROM membership_changes WHERE site_id = $1"
        f" AND id BETWEEN {written.first} AND {written.last}",
        [w.site_id],
    )
    await refresh(w, cat, todo, scoped=True, cause="NESTED")


# --------------------------------------------------------------------------- the clock


async def expire_listings(w: Writer, since: Any) -> Written:
    """EXPIRED for the listings whose expiry passed in (since, now] (stamped at it), then
    their dependents; moves the site's expiry watermark (``expired_to``) to now."""
    p = w.params()
    now = p.add(w.now, "timestamptz")
    start = p.add(since, "timestamptz") if since is not None else None
    window = f"l.site_id = {int(w.site_id)} AND l.expires_at IS NOT NULL AND l.expires_at <= {now}"
    if start is not None:
        window += f" AND l.expires_at > {start}"
    due = await w.rows(f"SELECT 1 AS due FROM segment_members l WHERE {window} LIMIT 1", p.values)
    if not due:
        return NOTHING
    written = await emit(
        w,
        "SELECT l.segment_id, l.member_id, m.external_id AS member_ref, 'EXITED' AS kind,"
        " 'EXPIRED' AS cause, l.expires_at AS at FROM segment_members l"
        f" JOIN members m ON m.id = l.member_id WHERE {window}"
        f" AND NOT {company_listed('l.segment_id', 'm.company_id')}"
        f" AND NOT {matched('l.segment_id', 'l.member_id')}"
        f" AND NOT {excluded('l.segment_id', 'l.member_id')}"
        " ORDER BY l.expires_at, l.id",
        p.values,
    )
    await w.run(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [ts(w.now, w.tx), w.site_id],
    )
    await cascade(w, written)
    return written


async def clock_rules(w: Writer) -> Written:
    """TIME: the DYNAMIC rules that count days back from now (and those naming them)
    re-evaluated over every member of the site; the site's ``swept_at`` moves to now."""
    await w.run(
        "UPDATE membership_sites SET swept_at = $1 WHERE site_id = $2",
        [ts(w.now, w.tx), w.site_id],
    )
    cat = await catalogue.get(w.site_id, connection=w.tx)
    clocked = [s for s in cat.dynamic if uses_clock(s)]
    if not clocked:
        return NOTHING
    todo = clocked + [s for s in dependents(cat, [c.pk for c in clocked]) if s not in clocked]
    return await refresh(w, cat, todo, scoped=False, cause="TIME", nested=len(todo) > 1)
