"""Kept membership: the kept rows read in SQL, one writer's transaction, and the record.

The kept rows are a site's listings, listed companies, exclusions and the kept matches of its
DYNAMIC rules. Effective membership of (S, m), as they say it: (listed in S, unexpired) OR
(m's company listed in S) OR (a kept match of S) AND NOT excluded from S. Only a flip of that
answer is recorded, once; a write that flips nothing records nothing.

Every change of effective membership is written through ``emit``: one ``INSERT ... SELECT``
into ``membership_changes`` whose rows move the kept counters by (entered - exited) in the
same statement. The writers above this module: the site lock (app.memberships.lock), the
kept rows from scratch (rebuild), rule matches re-evaluated (refresh, reevaluate), the clock.

app.changes (the record's readers) sits above this package and re-exports what they use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params, execute, fetch, is_postgres
from app.live.broker import broker

TOPIC = "membership.changes"  # told at commit with {"upto": last id written}

ENTERED, EXITED = "ENTERED", "EXITED"


def live(alias: str, now: str) -> str:
    """The listing ``alias`` has not expired at ``now`` (a bound timestamp)."""
    return f"({alias}.expires_at IS NULL OR {alias}.expires_at > {now})"


def _probe(table: str, alias: str, seg: str, column: str, value: str, also: str = "") -> str:
    """A row of ``table`` (as ``alias``) for segment ``seg`` whose ``column`` is ``value``."""
    return (
        f"EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.segment_id = {seg}"
        f" AND {alias}.{column} = {value}{also})"
    )


def listed(seg: str, mem: str, now: str) -> str:
    return _probe("segment_members", "kl", seg, "member_id", mem, f" AND {live('kl', now)}")


def company_listed(seg: str, company: str) -> str:
    return _probe("segment_companies", "kc", seg, "company_id", company)


def matched(seg: str, mem: str) -> str:
    return _probe("segment_rule_matches", "kr", seg, "member_id", mem)


def excluded(seg: str, mem: str) -> str:
    return _probe("segment_exclusions", "kx", seg, "member_id", mem)


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


def id_list(pks: Sequence[int]) -> str:
    """An IN list of segment ids (NULL, matching nothing, for none)."""
    return ", ".join(str(int(pk)) for pk in pks) or "NULL"


# --------------------------------------------------------------------------- the record
#
# The record is compact: a row of ``membership_changes`` holds the changes of one write that
# share (segment, kind, cause, at), up to ROW_MEMBERS of them, their members as arrays
# (``member_ids``, ``member_refs``: BIGINT[] and TEXT[] on PostgreSQL, JSON arrays on SQLite)
# in the order they were written. A change's id is its row's id less the changes after it in
# the row: the row's ``id`` is the id of its LAST change, and its ``size`` changes have the
# ids ``id - size + 1 .. id``. A writer takes the next value of the table's sequence, s (on
# SQLite: one past the largest id the table ever had, shifted back), and gives its row the
# id ``(s << ID_SHIFT) + size - 1``, so that the ids of its changes are ``s << ID_SHIFT``
# onwards and never meet another row's. Rows written before the record was
# compact (migration 0015) are rows of one change whose id is that change's.
#
# So every reader that compares ids at the level of rows still reads the record as a list
# of changes: ``MAX(id)`` is the last change's id, a row has a change past a cursor ``c``
# exactly when ``id > c``. The readers of changes unnest the rows with ``expanded``.

ID_SHIFT = 12
ROW_MEMBERS = 1 << ID_SHIFT  # changes a row holds at most


def expanded(pg: bool, rows: str, *, alias: str = "c") -> str:
    """SQL (a FROM list): the record's rows (``rows``: a table or a subquery, as ``alias``)
    each joined to its members as ``u``: ``u.value`` the member's external id, ``u.key`` its
    place in the row (the names of SQLite's json_each; 1 for the first on PostgreSQL, 0 on
    SQLite: order by it, and take the change's id from ``change_id``)."""
    if pg:
        return (
            f"{rows} {alias} CROSS JOIN LATERAL unnest({alias}.member_refs)"
            " WITH ORDINALITY AS u(value, key)"
        )
    return f"{rows} {alias}, json_each({alias}.member_refs) u"


def change_id(pg: bool, alias: str = "c") -> str:
    """SQL: the id of the change ``u`` of row ``alias`` (see ``expanded``)."""
    return f"({alias}.id - {alias}.size + u.key{'' if pg else ' + 1'})"


def member_ids_of(pg: bool, where: str) -> str:
    """SQL: the distinct member ids (column member_id) of the record's rows ``where`` (over
    alias c) selects."""
    if pg:
        return (
            "SELECT DISTINCT u.m AS member_id FROM membership_changes c"
            f" CROSS JOIN LATERAL unnest(c.member_ids) AS u(m) WHERE {where}"
        )
    return (
        "SELECT DISTINCT j.value AS member_id FROM membership_changes c,"
        f" json_each(c.member_ids) j WHERE {where}"
    )


def has_member(pg: bool, ref: str, alias: str = "c") -> str:
    """SQL: the row ``alias`` holds a change of the member with external id ``ref`` (a bound
    parameter): read in the row (no index finds a member's rows: see migration 0015)."""
    if pg:
        return f"{alias}.member_refs @> ARRAY[{ref}::text]"
    return f"EXISTS (SELECT 1 FROM json_each({alias}.member_refs) m WHERE m.value = {ref})"


@dataclass(frozen=True)
class Written:
    """The changes one ``emit`` wrote: ids ``first`` .. ``last`` of the site (none of its
    other changes between them), ``count`` of them."""

    first: int
    last: int
    count: int


NOTHING = Written(1, 0, 0)

# a change and the segments whose change for the same member in the same write makes it
# NESTED (unless its cause is COMPANY): (segment pk, pks of the segments its rule names)
Nesting = Sequence[tuple[int, Sequence[int]]]


def _nested_cause(nesting: Nesting, f: str) -> str:
    """SQL (PostgreSQL, over the CTE ``f`` of one write's changes, numbered n): the n of the
    changes to record as NESTED."""
    terms = " OR ".join(
        f"(x.segment_id = {int(s)} AND g.segment_id IN ({id_list(named)}))" for s, named in nesting
    )
    return (
        f"SELECT DISTINCT x.n FROM {f} x JOIN {f} g ON g.member_ref = x.member_ref"
        f" WHERE x.cause <> 'COMPANY' AND ({terms})"
    )


_GROUP = "segment_id, kind, cause, at"


async def emit(
    w: Writer,
    select: str,
    params: Sequence[Any],
    *,
    ctes: str = "",
    nesting: Nesting = (),
    counters: bool = True,
    numbered: bool = False,
    alike: bool = False,
    by_member: str | None = None,
) -> Written:
    """Record the changes ``select`` gives, in its order (columns segment_id, member_id,
    member_ref, kind, cause, at), as rows of up to ROW_MEMBERS changes of one (segment, kind,
    cause, at): the rows of each such group one after the other, the groups in the order of
    their first change, the members of each in the order written; move the counters by them,
    and tell the topic at commit. ``ctes`` ("name AS (...), ...", PostgreSQL): CTEs of the
    same statement ``select`` may read (and writes it makes with them). ``nesting``: which
    changes are NESTED (see Nesting). ``counters``: False writes the record alone
    (``record.write``). ``numbered`` (PostgreSQL): ``select`` is not ordered but numbers
    its changes in the order to record them, as ``emit_with``'s does. ``alike``
    (PostgreSQL, with ``numbered``, without ``nesting``): the changes share their segment,
    cause and moment, only their kind differs (a rule edit's). ``by_member`` (PostgreSQL,
    without ``numbered`` and ``nesting``; an SQL expression over ``segment_id``, a number):
    the changes share their cause and moment, a member has at most one of a segment, and
    ``select``, unordered, stands for the changes in the order of (``by_member``,
    member_id, segment_id) (an upsert's: ``by_member`` the segment's level)."""
    assert not alike or (numbered and not nesting), "alike: numbered changes, none NESTED"
    assert by_member is None or not (numbered or nesting), "by_member: in member order"
    if w.pg:
        written, _ = await _emit_pg(
            w,
            select,
            params,
            ctes,
            nesting,
            counters,
            numbered=numbered,
            alike=alike,
            by_member=by_member,
        )
    else:
        written = await _emit_sqlite(w, select, params, ctes, nesting, counters)
    await _tell(w, written)
    return written


async def emit_with(
    w: Writer, select: str, params: Sequence[Any], *, ctes: str, also: Sequence[str]
) -> tuple[Written, dict[str, Any]]:
    """``emit`` on PostgreSQL, whose one statement also answers the columns of the one-row
    CTEs ``also`` (of ``ctes``): a write that reads what it changes in the same statement
    (the bulk unlisting) and its payload with it. ``select`` numbers its changes itself, in
    the order to record them (a distinct bigint column ``n``), instead of ordering them: the
    record sorts them once, by group and n (an ORDER BY and a row_number over it cost 40 to
    80 ms of 50,000 changes more)."""
    assert w.pg, "one statement with CTEs: PostgreSQL"
    written, row = await _emit_pg(w, select, params, ctes, (), True, also, numbered=True)
    await _tell(w, written)
    return written, row


async def _tell(w: Writer, written: Written) -> None:
    if written.count:
        await broker.publish(
            topic=TOPIC, site_id=w.site_id, payload={"upto": written.last}, connection=w.tx
        )


# each (segment, kind, cause, at) as one array in the order written (_ea: a row a group,
# with its size and its first change, ``first``): the aggregates take the changes as the
# ordered subquery gives them (the idiom PostgreSQL documents for ordered aggregates; its
# input is sorted already, so nothing sorts in between, and each ``array_agg(... ORDER BY
# n)`` would sort the changes once more on its own: 87 ms of 360 for 49,000). Grouped by the
# bytes of kind and cause: sorting by them in the database's collation cost more than the
# rest of the record (140 of 230 ms for 58,000 changes). (A moment that is one constant is
# dropped from the subquery's order: PostgreSQL then hashes the groups, or sorts each group
# by that constant once more, as measured in a rule edit's plan, which leaves it in order.)
_GATHERED = (
    "_ea AS (SELECT segment_id, kind, cause, at, array_agg(member_id) AS ids,"
    " array_agg(member_ref) AS refs, count(*) AS size, min(n) AS first FROM"
    ' (SELECT segment_id, kind COLLATE "C" AS kind, cause COLLATE "C" AS cause, at,'
    " member_id, member_ref, n FROM _ef ORDER BY 1, 2, 3, 4, n) o GROUP BY 1, 2, 3, 4)"
)
# the same when only the kind differs (``alike``): the changes sorted by n alone, each kind's
# arrays gathered in one pass by FILTER. The sort by the group's four columns and n above
# compares the tied columns for every pair of changes it orders (a rule edit's 40,000
# changes: 130 to 150 ms of CPU more than this, a fifth of the edit's statement).
_GATHERED_BY_KIND = (
    '_e1 AS (SELECT min(segment_id) AS segment_id, min(cause COLLATE "C") AS cause,'
    " min(at) AS at,"
    + ",".join(
        f" array_agg(member_id) FILTER (WHERE kind = '{kind}') AS ids_{kind.lower()},"
        f" array_agg(member_ref) FILTER (WHERE kind = '{kind}') AS refs_{kind.lower()},"
        f" min(n) FILTER (WHERE kind = '{kind}') AS first_{kind.lower()}"
        for kind in (ENTERED, EXITED)
    )
    + " FROM (SELECT * FROM _ef ORDER BY n) o),"
    " _ea AS (SELECT e.segment_id, g.kind, e.cause, e.at, g.ids, g.refs,"
    " cardinality(g.ids)::bigint AS size, g.first FROM _e1 e CROSS JOIN LATERAL (VALUES"
    + ",".join(
        f" ('{kind}', e.ids_{kind.lower()}, e.refs_{kind.lower()}, e.first_{kind.lower()})"
        for kind in (ENTERED, EXITED)
    )
    + ") AS g(kind, ids, refs, first) WHERE g.ids IS NOT NULL)"
)


async def emit_kinds(
    w: Writer,
    segment_id: int,
    cause: str,
    at: str,
    arrays: str,
    params: Sequence[Any],
    *,
    ctes: str,
) -> Written:
    """``emit`` on PostgreSQL of the changes of one segment that share their cause and
    moment (``at``: SQL, a bound timestamp), given as ``arrays``, a one-row CTE of ``ctes``
    holding each kind's members in member order, each member once (entered_ids,
    entered_refs, exited_ids, exited_refs; NULL for none): a rule edit's, gathered from its
    diff. The record is the same as ``emit`` (``alike``) writes of the same changes numbered
    by member id: each kind's arrays in member order, the kinds in the order of their first
    member."""
    assert w.pg, "one statement with CTEs: PostgreSQL"
    kinds = ", ".join(
        f"('{kind}', a.{kind.lower()}_ids, a.{kind.lower()}_refs)" for kind in (ENTERED, EXITED)
    )
    gathered = (
        f"_ea AS (SELECT {int(segment_id)}::bigint AS segment_id, g.kind, '{cause}' AS cause,"
        f" {at} AS at, g.ids, g.refs, cardinality(g.ids)::bigint AS size, g.ids[1] AS first"
        f" FROM {arrays} a CROSS JOIN LATERAL (VALUES {kinds}) AS g(kind, ids, refs)"
        " WHERE g.ids IS NOT NULL)"
    )
    written, _ = await _write_pg(w, [gathered], params, ctes, True)
    await _tell(w, written)
    return written


def _gathered_by_member(level: str) -> str:
    """``_ea`` for ``by_member``: the changes sorted by segment and member (two bigint keys,
    not numbered by a sort and sorted again by five keys: 60,000 changes of an upsert, some
    40 ms less), each segment's arrays of each kind gathered in one pass by FILTER, and
    ``first`` (level, first member, segment): the order of the groups' first changes."""
    kinds = (ENTERED, EXITED)
    return (
        '_e1 AS (SELECT segment_id, min(cause COLLATE "C") AS cause, min(at) AS at,'
        + ",".join(
            f" array_agg(member_id) FILTER (WHERE kind = '{k}') AS ids_{k.lower()},"
            f" array_agg(member_ref) FILTER (WHERE kind = '{k}') AS refs_{k.lower()},"
            f" min(member_id) FILTER (WHERE kind = '{k}') AS first_{k.lower()}"
            for k in kinds
        )
        + " FROM (SELECT * FROM _ef ORDER BY segment_id, member_id) o GROUP BY segment_id),"
        " _ea AS (SELECT e.segment_id, g.kind, e.cause, e.at, g.ids, g.refs,"
        f" cardinality(g.ids)::bigint AS size, ARRAY[({level})::bigint, g.first, e.segment_id]"
        " AS first FROM _e1 e CROSS JOIN LATERAL (VALUES"
        + ",".join(
            f" ('{k}', e.ids_{k.lower()}, e.refs_{k.lower()}, e.first_{k.lower()})" for k in kinds
        )
        + ") AS g(kind, ids, refs, first) WHERE g.ids IS NOT NULL)"
    )


async def _emit_pg(
    w: Writer,
    select: str,
    params: Sequence[Any],
    ctes: str,
    nesting: Nesting,
    counters: bool,
    also: Sequence[str] = (),
    *,
    numbered: bool = False,
    alike: bool = False,
    by_member: str | None = None,
) -> tuple[Written, dict[str, Any]]:
    changes = "_ef0" if nesting else "_ef"
    number = "" if numbered or by_member is not None else ", row_number() OVER () AS n"
    steps = [f"{changes} AS (SELECT s.*{number} FROM ({select}) s)"]
    if by_member is not None:
        steps.append(_gathered_by_member(by_member))
    if nesting:
        steps.append(f"_efn AS ({_nested_cause(nesting, '_ef0')})")
        steps.append(
            "_ef AS (SELECT x.segment_id, x.member_id, x.member_ref, x.kind,"
            " CASE WHEN _efn.n IS NULL THEN x.cause ELSE 'NESTED' END AS cause, x.at, x.n"
            " FROM _ef0 x LEFT JOIN _efn ON _efn.n = x.n)"
        )
    if by_member is None:
        steps.append(_GATHERED_BY_KIND if alike else _GATHERED)
    return await _write_pg(w, steps, params, ctes, counters, also)


async def _write_pg(
    w: Writer,
    steps: list[str],
    params: Sequence[Any],
    ctes: str,
    counters: bool,
    also: Sequence[str] = (),
) -> tuple[Written, dict[str, Any]]:
    """The record's rows from ``steps``, CTEs whose last, _ea, gives a row a group (columns
    segment_id, kind, cause, at, ids, refs, size, first): each group cut into rows of
    ROW_MEMBERS, written in the order of their first change, the counters moved."""
    site = int(w.site_id)
    steps = [
        *steps,
        # each group cut into rows of ROW_MEMBERS
        f"_er AS (SELECT a.segment_id, a.kind, a.cause, a.at, a.ids[p:p + {ROW_MEMBERS - 1}]"
        f" AS ids, a.refs[p:p + {ROW_MEMBERS - 1}] AS refs, least(a.size - p + 1, {ROW_MEMBERS})"
        " AS size, a.first, p FROM _ea a CROSS JOIN LATERAL"
        f" generate_series(1, a.size::int, {ROW_MEMBERS}) AS p)",
        # the rows' ids taken in the order of their first change (from an ordered subquery:
        # nextval is called as the rows come)
        "_ew AS (INSERT INTO membership_changes"
        " (id, site_id, segment_id, kind, cause, at, size, member_ids, member_refs)"
        f" SELECT (nextval('membership_changes_id_seq') << {ID_SHIFT}) + o.size - 1, {site},"
        " o.segment_id, o.kind, o.cause, o.at, o.size, o.ids, o.refs"
        " FROM (SELECT * FROM _er ORDER BY first, p) o RETURNING id, segment_id, kind, size)",
    ]
    if counters:
        steps += [
            "_ed AS (SELECT segment_id, SUM(CASE WHEN kind = 'ENTERED' THEN size ELSE -size END)"
            " AS n FROM _ew GROUP BY segment_id)",
            "_eu AS (UPDATE segment_counts k SET member_count = k.member_count + _ed.n FROM _ed"
            " WHERE k.segment_id = _ed.segment_id RETURNING 1)",
        ]
    head = f"{ctes}, " if ctes else ""
    final = (
        "SELECT COALESCE(MIN(id - size + 1), 1) AS lo, COALESCE(MAX(id), 0) AS hi,"
        " COALESCE(SUM(size), 0) AS n FROM _ew"
    )
    if also:
        final = f"SELECT * FROM ({final}) _e" + "".join(f" CROSS JOIN {t}" for t in also)
    row = (await w.rows(f"WITH {head}{', '.join(steps)} {final}", params))[0]
    return Written(int(row["lo"]), int(row["hi"]), int(row["n"])), row


async def _emit_sqlite(
    w: Writer, select: str, params: Sequence[Any], ctes: str, nesting: Nesting, counters: bool
) -> Written:
    assert not ctes, "SQLite writes no CTE"
    await w.run(
        "CREATE TEMP TABLE IF NOT EXISTS _emitted (n INTEGER PRIMARY KEY, segment_id INTEGER,"
        " member_id INTEGER, member_ref TEXT, kind TEXT, cause TEXT, at TEXT)"
    )
    await w.run("DELETE FROM _emitted")
    await w.run(
        "INSERT INTO _emitted (segment_id, member_id, member_ref, kind, cause, at)"
        f" SELECT f.segment_id, f.member_id, f.member_ref, f.kind, f.cause, f.at FROM ({select}) f",
        params,
    )
    count = int((await w.rows("SELECT COUNT(*) AS n FROM _emitted"))[0]["n"])
    if not count:
        return NOTHING
    if nesting:
        await w.run("CREATE INDEX IF NOT EXISTS _emitted_ref ON _emitted (member_ref)")
        terms = " OR ".join(
            f"(x.segment_id = {int(s)} AND g.segment_id IN ({id_list(named)}))"
            for s, named in nesting
        )
        await w.run(
            "UPDATE _emitted SET cause = 'NESTED' WHERE n IN (SELECT x.n FROM _emitted x"
            f" JOIN _emitted g ON g.member_ref = x.member_ref WHERE x.cause <> 'COMPANY'"
            f" AND ({terms}))"
        )
    # the next row's number: past every id the table ever had (AUTOINCREMENT keeps the
    # largest in sqlite_sequence, pruned rows included)
    seq = await w.rows(
        "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name ="
        " 'membership_changes'), 0), COALESCE((SELECT MAX(id) FROM membership_changes), 0))"
        " AS top"
    )
    base = (int(seq[0]["top"]) >> ID_SHIFT) + 1
    # a window over each part, whole: its aggregates take the members in the order written
    await w.run(
        "INSERT INTO membership_changes"
        " (id, site_id, segment_id, kind, cause, at, size, member_ids, member_refs)"
        f" SELECT (({base} + row_number() OVER (ORDER BY first, part) - 1) << {ID_SHIFT})"
        " + size - 1,"
        f" {int(w.site_id)}, segment_id, kind, cause, at, size, ids, refs FROM ("
        f" SELECT {_GROUP}, json_group_array(member_id) OVER p AS ids,"
        " json_group_array(member_ref) OVER p AS refs, count(*) OVER p AS size,"
        f" min(n) OVER (PARTITION BY {_GROUP}) AS first, part, row_number() OVER (PARTITION BY"
        f" {_GROUP}, part ORDER BY n) AS k FROM (SELECT _emitted.*, (row_number() OVER"
        f" (PARTITION BY {_GROUP} ORDER BY n) - 1) / {ROW_MEMBERS} AS part FROM _emitted)"
        f" WINDOW p AS (PARTITION BY {_GROUP}, part ORDER BY n"
        " ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
        ") WHERE k = 1 ORDER BY first, part"
    )
    if counters:
        await w.run(
            "UPDATE segment_counts SET member_count = member_count + (SELECT"
            " SUM(CASE WHEN e.kind = 'ENTERED' THEN 1 ELSE -1 END) FROM _emitted e"
            " WHERE e.segment_id = segment_counts.segment_id)"
            " WHERE segment_id IN (SELECT segment_id FROM _emitted)"
        )
    last = int((await w.rows("SELECT MAX(id) AS hi FROM membership_changes"))[0]["hi"])
    return Written(base << ID_SHIFT, last, count)
