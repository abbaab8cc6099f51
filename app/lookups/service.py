"""Membership lookups for given members, answered in a fixed number of queries.

isMember, memberSegments, membershipsOf, explainMembership, Member.segments and flag
evaluation all come here. Whatever the number of segments, a lookup reads:
1. in one statement: the site's segments version, the members, and every listing, company
   listing, exclusion and kept rule match (``segment_rule_matches``) of those members;
2. the site's segments, only when the cached catalogue is behind that version.
A DYNAMIC segment's rule is not evaluated when asked: its matches are kept rows, written by
the writes that change them (app.memberships.kept) and by the sweeper for the clock. Only a
site whose kept rows were never built (no writer has touched its membership since they exist:
no ``membership_sites`` row) has its rules evaluated here, in Python with the parsed rules,
the same meaning the SQL of memberships.effective gives (the property tests hold them
together). Listing expiry is always exact: the listings' ``expires_at`` are read.

Two questions have statements of their own: ``is_member`` probes only the one segment's ties
(an index probe each), and on PostgreSQL ``segments_of_members`` (memberSegments,
membershipsOf, Member.segments) of a site keeping its rule matches reads one row per member
with its ties as arrays.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.exceptions import OperationalError

from app.changes import history
from app.db import any_of, as_datetime, conn, ids_param, is_postgres, json_value, sql, ts
from app.lookups.coalesce import Coalescer
from app.memberships import catalogue
from app.memberships.catalogue import Catalogue, SegmentDef
from app.rules import CompanyFacts, MemberFacts
from app.rules.evaluate import context
from app.status import SegmentStatus


class Reason(enum.Enum):
    LISTED = "LISTED"
    COMPANY = "COMPANY"
    RULE = "RULE"
    EXCLUDED = "EXCLUDED"
    EXPIRED = "EXPIRED"
    SEGMENT_NOT_ACTIVE = "SEGMENT_NOT_ACTIVE"
    NO_MATCH = "NO_MATCH"
    UNKNOWN_MEMBER = "UNKNOWN_MEMBER"


@dataclass(slots=True)
class MemberState:
    """One member and every way it is tied to a segment."""

    pk: int
    external_id: str
    # the member row: its facts are decoded only when a rule is evaluated here
    row: Any
    listed: dict[int, datetime | None] = field(default_factory=dict)  # expiry, expired or not
    via_company: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)
    # the DYNAMIC segments whose kept rule matches hold the member (None: the site keeps none)
    matched: set[int] | None = None

    @property
    def facts(self) -> MemberFacts:
        return _facts(self.row)


class Membership:
    """Effective membership of one member, segment by segment, memoized for in_segment()."""

    def __init__(
        self, cat: Catalogue, state: MemberState, now: datetime, live: dict[int, bool] | None = None
    ) -> None:
        self.cat = cat
        self.state = state
        self.now = now
        self._memo: dict[int, bool] = {}
        # segment pk -> ACTIVE now; shared by the memberships of one lookup
        self._live = {} if live is None else live
        self._context: Any = None  # what evaluated rules read: made on first use

    def listed(self, pk: int) -> bool:
        if pk not in self.state.listed:
            return False
        expires = self.state.listed[pk]
        return expires is None or expires > self.now

    def rule_matches(self, segment: SegmentDef) -> bool:
        """Whether the DYNAMIC segment's rule holds the member: its kept match when the site
        keeps them, else the rule evaluated now."""
        matched = self.state.matched
        if matched is not None:
            return segment.pk in matched
        if segment.check is None:
            return False
        if self._context is None:
            self._context = context(self.state.facts, in_segment=self._in_segment, now=self.now)
        return segment.check(self._context) is True

    def effective(self, segment: SegmentDef) -> bool:
        """Whether the member is an effective member, whatever the segment's status."""
        pk = segment.pk
        if pk not in self._memo:
            self._memo[pk] = pk not in self.state.excluded and (
                self.listed(pk)
                or pk in self.state.via_company
                or (segment.dynamic and self.rule_matches(segment))
            )
        return self._memo[pk]

    def counts(self, segment: SegmentDef, include_inactive: bool) -> bool:
        """Effective membership as lookups count it: only live segments unless asked."""
        if not include_inactive:
            live = self._live.get(segment.pk)
            if live is None:
                live = self._live[segment.pk] = segment.status(self.now) is SegmentStatus.ACTIVE
            if not live:
                return False
        return self.effective(segment)

    def candidates(self) -> Iterable[SegmentDef]:
        """The segments the member could be in: its lists, its company's, the dynamic ones
        (those whose kept matches hold it, when the site keeps them)."""
        pks = set(self.state.listed) | self.state.via_company
        if self.state.matched is not None:
            pks.update(self.state.matched)
        else:
            pks.update(s.pk for s in self.cat.dynamic)
        return (self.cat.by_pk[pk] for pk in sorted(pks) if pk in self.cat.by_pk)

    def segments(self, include_inactive: bool) -> list[SegmentDef]:
        return [s for s in self.candidates() if self.counts(s, include_inactive)]

    def reasons(self, segment: SegmentDef) -> list[Reason]:
        """Every fact that bears on membership, in the order of the MembershipReason enum."""
        pk = segment.pk
        found: list[Reason] = []
        if self.listed(pk):
            found.append(Reason.LISTED)
        if pk in self.state.via_company:
            found.append(Reason.COMPANY)
        if segment.dynamic and self.rule_matches(segment):
            found.append(Reason.RULE)
        made = bool(found)
        if pk in self.state.excluded:
            found.append(Reason.EXCLUDED)
        if pk in self.state.listed and not self.listed(pk):
            found.append(Reason.EXPIRED)
        if segment.status(self.now) is not SegmentStatus.ACTIVE:
            found.append(Reason.SEGMENT_NOT_ACTIVE)
        if not made and Reason.EXPIRED not in found:
            found.append(Reason.NO_MATCH)
        return found

    def _in_segment(self, name: str) -> bool | None:
        other = self.cat.by_name.get(name)
        return None if other is None else self.effective(other)


@dataclass(slots=True)
class Lookup:
    """The members asked for (unknown ids absent) and the catalogue they are read against."""

    cat: Catalogue
    members: dict[str, MemberState]
    now: datetime
    _live: dict[int, bool] = field(default_factory=dict)
    # the rows of the caller's own arm (``Also``), read in the same statement
    also: list[Any] = field(default_factory=list)

    def membership(self, external_id: str) -> Membership | None:
        state = self.members.get(external_id)
        return None if state is None else Membership(self.cat, state, self.now, self._live)


@dataclass(frozen=True, slots=True)
class Also:
    """Rows of the caller's own read, sent in the lookup's statement (one round trip for
    both): ``arm(pad)`` is a SELECT of the columns k (a kind of its own, one letter, not one
    of M, L, C, X, R), NULL, NULL, NULL, external_id (any text), ``pad``, mid, seg, exp;
    its parameters are numbered from $3 and given in ``params``."""

    arm: Callable[[str], str]
    params: Sequence[Any] = ()


async def load(
    *,
    site_id: int,
    external_ids: Sequence[str],
    now: datetime | None = None,
    also: Also | None = None,
) -> Lookup:
    """Everything lookups need for these members: one statement (two on a cache miss).
    ``now``: the moment listings expire and rules are judged at (the clock's by default);
    ``also``: rows the caller reads in the same statement (``Lookup.also``)."""
    now = now or datetime.now(UTC)
    ids = list(dict.fromkeys(external_ids))
    version, states, other = await _read(site_id, ids, also)
    cat = await catalogue.get(site_id, version)
    return Lookup(cat=cat, members={s.external_id: s for s in states.values()}, now=now, also=other)


def _match(ids: list[str]) -> tuple[str, list[Any]]:
    """A condition on members m naming the ids, from one parameter ($2) whatever their number."""
    if len(ids) == 1:
        return "m.external_id = $2", [ids[0]]
    return any_of("m.external_id", "$2"), [ids_param(ids)]


# a site that keeps rule matches needs no member's facts: they are not sent
_FACTS = ("email", "name", "created_at", "updated_at", "attributes")
_MEMBER = (
    "m.id, m.external_id, "
    + ", ".join(f"CASE WHEN ks.id IS NULL THEN m.{f} END AS {f}" for f in _FACTS)
    + ", m.bucket, c.external_id AS c_id, c.name AS c_name, c.plan AS c_plan,"
    " c.attributes AS c_attributes"
)
_NO_MEMBER = "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL"


async def fetch(
    text: str, params: Sequence[Any] = (), *, pool: asyncpg.Pool | None = None
) -> Sequence[Any]:
    """The rows of a raw query as the driver gives them (read by column name): no dict made
    per row, since a lookup of 1,000 ids reads a few thousand of them. On PostgreSQL outside
    a transaction, straight from a connection of the client's pool (``on_pool``), with the
    driver's prepared statement cache (Tortoise's execute_query costs a lookup ~20 µs more:
    its wrappers, its debug log call, an upper-cased copy of the statement), its errors
    translated as Tortoise translates them. ``pool``: that pool's, whatever the context's
    client (a batch of app.lookups.coalesce runs in a task of its own)."""
    if pool is not None:
        return await on_pool(pool, text, params)
    c = conn()
    pool = c._pool if type(c) is AsyncpgDBClient else None
    if pool is None:  # SQLite, a transaction's connection, or a pool not made yet
        _, rows = await c.execute_query(sql(text, c), list(params))
        return rows
    return await on_pool(pool, text, params)


async def on_pool(pool: asyncpg.Pool, text: str, params: Sequence[Any]) -> Sequence[Any]:
    """One statement on a connection of asyncpg's pool, given back whatever happens: every
    statement sent past Tortoise goes through here (tests count them here)."""
    connection = await pool.acquire()
    try:
        found: Sequence[Any] = await connection.fetch(text, *params)
        return found
    except (asyncpg.SyntaxOrAccessError, asyncpg.exceptions.DataError) as exc:
        raise OperationalError(exc) from exc
    finally:
        await pool.release(connection)


# sites known (in this process) to keep their rule matches: their lookups need no member's
# facts and no company, and read with the lean statement; a site's kept rows, once built, stay
_kept_sites: set[int] = set()

_TIE_KINDS = frozenset("LCXR")
_TIES = (
    " UNION ALL SELECT 'L', NULL, NULL, {none}, m.id, l.segment_id, l.expires_at"
    " FROM m JOIN segment_members l ON l.member_id = m.id"
    " UNION ALL SELECT 'C', NULL, NULL, {none}, m.id, sc.segment_id, NULL"
    " FROM m JOIN segment_companies sc ON sc.company_id = m.company_id"
    " UNION ALL SELECT 'X', NULL, NULL, {none}, m.id, x.segment_id, NULL"
    " FROM m JOIN segment_exclusions x ON x.member_id = m.id"
    " UNION ALL SELECT 'R', NULL, NULL, {none}, m.id, r.segment_id, NULL"
    " FROM m JOIN segment_rule_matches r ON r.member_id = m.id"
)


def _statement(match: str, lean: bool) -> str:
    """The lookup's one statement: the site row (its segments version, whether it keeps rule
    matches) with each member found (M), then each listing (L), company listing (C),
    exclusion (X) and kept rule match (R) of theirs. ``lean``: no facts, no companies."""
    if lean:
        return (
            "WITH m AS (SELECT m.id, m.external_id, m.company_id FROM members m"
            f" WHERE m.site_id = $1 AND {match})"
            " SELECT 'M' AS k, s.segments_version AS v, ks.id AS kept, m.id, m.external_id,"
            " m.id AS mid, NULL AS seg, NULL AS exp FROM sites s"
            " LEFT JOIN membership_sites ks ON ks.site_id = s.id"
            " LEFT JOIN m ON 1 = 1 WHERE s.id = $1" + _TIES.format(none="NULL, NULL")
        )
    return (
        "WITH m AS (SELECT m.id, m.external_id, m.email, m.name, m.created_at,"
        " m.updated_at, m.attributes, m.bucket, m.company_id FROM members m"
        f" WHERE m.site_id = $1 AND {match})"
        f" SELECT 'M' AS k, s.segments_version AS v, ks.id AS kept, {_MEMBER}, m.id AS mid,"
        " NULL AS seg, NULL AS exp FROM sites s"
        " LEFT JOIN membership_sites ks ON ks.site_id = s.id"
        " LEFT JOIN m ON 1 = 1"
        " LEFT JOIN companies c ON c.id = m.company_id AND ks.id IS NULL WHERE s.id = $1"
        + _TIES.format(none=_NO_MEMBER)
    )


_PAD = {True: "", False: ", NULL" * 10}  # Also's pad: the member's facts' columns


async def _read(
    site_id: int, ids: list[str], also: Also | None = None
) -> tuple[int, dict[int, MemberState], list[Any]]:
    """The site's segments version, whether it keeps rule matches, the members, and their
    ties to segments: one statement, the members found once. A member's facts (and company)
    are read only when the site keeps no rule matches. Then the rows of ``also``."""
    match, params = _match(ids)
    if also is not None:
        params.extend(also.params)

    def statement(lean: bool) -> str:
        text = _statement(match, lean)
        return text if also is None else f"{text} UNION ALL {also.arm(_PAD[lean])}"

    lean = site_id in _kept_sites
    rows = await fetch(statement(lean), [site_id, *params])
    if lean and any(r["k"] == "M" and r["kept"] is None for r in rows):
        # not kept after all (a site made again under the same id)
        _kept_sites.discard(site_id)
        rows = await fetch(statement(False), [site_id, *params])
    version = 0
    kept = False
    states: dict[int, MemberState] = {}
    ties = []
    other = []
    for row in rows:
        kind = row["k"]
        if kind != "M":
            if kind in _TIE_KINDS:
                ties.append(row)
            else:
                other.append(row)
            continue
        version = int(row["v"])
        kept = row["kept"] is not None
        if kept:
            _kept_sites.add(site_id)
        if row["id"] is not None:
            state = MemberState(int(row["id"]), row["external_id"], row)
            states[state.pk] = state
    if kept:
        for state in states.values():
            state.matched = set()
    for row in ties:
        state = states[int(row["mid"])]
        segment = int(row["seg"])
        kind = row["k"]
        if kind == "L":
            state.listed[segment] = _moment(row["exp"]) if row["exp"] is not None else None
        elif kind == "C":
            state.via_company.add(segment)
        elif kind == "X":
            state.excluded.add(segment)
        elif state.matched is not None:
            state.matched.add(segment)
    return version, states, other


def _facts(row: Any) -> MemberFacts:
    company = None
    if row["c_id"] is not None:
        company = CompanyFacts(
            external_id=row["c_id"],
            name=row["c_name"],
            plan=row["c_plan"],
            attributes=_json(row["c_attributes"]),
        )
    return MemberFacts(
        external_id=row["external_id"],
        email=row["email"],
        name=row["name"],
        created_at=_moment(row["created_at"]),
        updated_at=_moment(row["updated_at"]),
        attributes=_json(row["attributes"]),
        bucket=int(row["bucket"]),
        company=company,
    )


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    loaded = json_value(value)
    return loaded if isinstance(loaded, dict) else {}


def _moment(value: Any) -> datetime:
    moment = as_datetime(value)
    assert moment is not None
    return moment


# What the segments each member is an effective member of are made of, for a site that
# keeps its rule matches: one row per member, its listed (unexpired) segments, its company's
# listed segments, its exclusions and its kept matches, each an array read from an index.
_EFFECTIVE = (
    "WITH m AS (SELECT m.id, m.external_id, m.company_id FROM members m"
    " WHERE m.site_id = $1 AND {match})"
    " SELECT s.segments_version AS v, ks.id AS kept, m.external_id,"
    " ARRAY(SELECT l.segment_id FROM segment_members l WHERE l.member_id = m.id"
    "  AND (l.expires_at IS NULL OR l.expires_at > $3)) AS listed,"
    " {companies} AS companies,"
    " ARRAY(SELECT x.segment_id FROM segment_exclusions x WHERE x.member_id = m.id) AS excluded,"
    " ARRAY(SELECT r.segment_id FROM segment_rule_matches r WHERE r.member_id = m.id) AS ruled"
    "{columns} FROM sites s LEFT JOIN membership_sites ks ON ks.site_id = s.id"
    " LEFT JOIN m ON 1 = 1{joins} WHERE s.id = $1"
)
# a member's company's listed segments: for one member, read for it; for many, the site's
# company listings grouped once and joined (a scan of them per member cost PostgreSQL
# ~500 µs of a 100-member lookup's ~3,000)
_ONE_COMPANY = (
    "ARRAY(SELECT sc.segment_id FROM segment_companies sc WHERE sc.company_id = m.company_id)",
    "",
)
_MANY_COMPANIES = (
    "COALESCE(sc.segment_ids, CAST('{}' AS bigint[]))",
    " LEFT JOIN (SELECT company_id, array_agg(segment_id) AS segment_ids"
    " FROM segment_companies WHERE site_id = $1 GROUP BY company_id) sc"
    " ON sc.company_id = m.company_id",
)


@functools.lru_cache(maxsize=64)
def _effective_text(match: str, columns: str, one: bool) -> str:
    companies, joins = _ONE_COMPANY if one else _MANY_COMPANIES
    return _EFFECTIVE.format(match=match, columns=columns, companies=companies, joins=joins)


async def _effective(
    site_id: int, ids: list[str], columns: str = "", more: Sequence[Any] = ()
) -> tuple[Catalogue, dict[str, list[SegmentDef]], Any, datetime] | None:
    """The catalogue and each member's effective segments (any status, in pk order) from one
    statement, its first row (``columns``: more columns of it, SQL whose parameters ``more``
    are $4 on) and the moment it judged listings' expiry at; None when the site is not known
    to keep its rule matches (or not PostgreSQL): the general lookup answers then. On the
    pool (not in a transaction) and without ``more``, concurrent lookups of the site share
    statements (app.lookups.coalesce)."""
    if site_id not in _kept_sites or not is_postgres():
        return None
    c = conn()
    pool = c._pool if type(c) is AsyncpgDBClient else None
    if pool is None or more:
        return await _effective_read(pool, site_id, ids, columns, more)
    found: tuple[Catalogue, dict[str, list[SegmentDef]], Any, datetime] | None
    found = await _coalescer.ask((pool, site_id, columns), ids)
    return found


async def _batch(kind: Hashable, ids: list[Any]) -> Any:
    """The statement of a batch: isMember's (``_PAIRS``: ids are (member id, segment pk)
    pairs) or the effective segments' (kind's third: the columns)."""
    pool, site_id, columns = cast(tuple[asyncpg.Pool, int, str | None], kind)
    if columns is _PAIRS:
        return await _is_member_read(pool, site_id, ids)
    assert columns is not None
    return await _effective_read(pool, site_id, ids, columns, ())


_PAIRS = None  # the kind of isMember's batches
# one for every lookup statement of the process: the limit is on all of them
_coalescer: Coalescer[Any] = Coalescer(_batch)


async def _effective_read(
    pool: asyncpg.Pool | None, site_id: int, ids: list[str], columns: str, more: Sequence[Any]
) -> tuple[Catalogue, dict[str, list[SegmentDef]], Any, datetime] | None:
    now = datetime.now(UTC)
    # one id asked as one (a plan made for any array guesses ten members, and is never kept)
    match, params = _match(ids)
    text = _effective_text(match, columns, len(ids) == 1)
    params = [site_id, *params, now, *more]
    rows = await fetch(text, params, pool=pool)
    if not rows or rows[0]["kept"] is None:
        _kept_sites.discard(site_id)
        return None
    cat = await catalogue.get(site_id, int(rows[0]["v"]))
    by_pk = cat.by_pk
    dynamic = {s.pk for s in cat.dynamic}  # a kept match counts for these only
    found: dict[str, list[SegmentDef]] = {}
    for row in rows:
        if row["external_id"] is None:
            continue
        pks = {*row["listed"], *row["companies"]}
        pks.update(dynamic.intersection(row["ruled"]))
        pks.difference_update(row["excluded"])
        found[row["external_id"]] = [by_pk[pk] for pk in sorted(pks) if pk in by_pk]
    return cat, found, rows[0], now


async def segments_with(
    *, site_id: int, external_id: str, columns: str, params: Sequence[Any]
) -> tuple[Catalogue, list[SegmentDef], Any, datetime] | None:
    """The member's effective segments (any status, in pk order) and more of the site's rows
    read in the same statement: ``columns`` (SQL of more columns, each one value, such as an
    ARRAY of a subquery; $1 is the site, $3 now, ``params`` $4 on) of the returned row, and
    that now. None when the site is not known to keep its rule matches: the caller reads
    another way."""
    found = await _effective(site_id, [external_id], columns, params)
    if found is None:
        return None
    cat, segments, row, now = found
    return cat, segments.get(external_id, []), row, now


def _live(segments: list[SegmentDef], now: datetime, live: dict[int, bool]) -> list[SegmentDef]:
    """The segments ACTIVE now (``live``: a memo of each segment's answer)."""
    kept = []
    for segment in segments:
        found = live.get(segment.pk)
        if found is None:
            found = live[segment.pk] = segment.status(now) is SegmentStatus.ACTIVE
        if found:
            kept.append(segment)
    return kept


async def segments_of_members(
    *, site_id: int, keys: Sequence[tuple[str, bool]]
) -> dict[tuple[str, bool], list[SegmentDef]]:
    """For each (member id, include inactive): its segments, in pk order."""
    ids = list(dict.fromkeys(k[0] for k in keys))
    effective = await _effective(site_id, ids)
    answers: dict[tuple[str, bool], list[SegmentDef]] = {}
    if effective is not None:
        live: dict[int, bool] = {}
        found, now = effective[1], effective[3]
        for key in keys:
            segments = found.get(key[0], [])
            answers[key] = segments if key[1] else _live(segments, now, live)
        return answers
    lookup = await load(site_id=site_id, external_ids=ids)
    for key in keys:
        membership = lookup.membership(key[0])
        answers[key] = membership.segments(include_inactive=key[1]) if membership else []
    return answers


async def memberships_of(
    *, site_id: int, external_ids: Sequence[str]
) -> list[tuple[str, list[str]]]:
    """Each member asked (in that order, repeats too) with the ids of the ACTIVE segments
    it is in (none for an unknown member)."""
    found = await segments_of_members(site_id=site_id, keys=[(i, False) for i in external_ids])
    ids: dict[int, str] = {}  # each segment's id, made once
    return [
        (i, [ids.get(s.pk) or ids.setdefault(s.pk, str(s.pk)) for s in found[(i, False)]])
        for i in external_ids
    ]


async def segments_at(
    *, site_id: int, external_id: str, at: datetime, include_inactive: bool
) -> list[SegmentDef]:
    """The segments the member was an effective member of at ``at`` (those that still exist),
    live then unless ``include_inactive``: a segment's status then is judged from its current
    isActive, startsAt and endsAt. HistoryUnavailable before the retained history."""
    when = await history.moment(site_id=site_id, at=at, now=datetime.now(UTC))
    lookup = await load(site_id=site_id, external_ids=[external_id], now=when.judged)
    earliest = await history.earliest_after(site_id=site_id, member_ref=external_id, at=when.at)
    membership = lookup.membership(external_id)
    pks = set(earliest)
    if membership is not None:
        pks.update(s.pk for s in membership.candidates())
    found = []
    for pk in sorted(pks):
        segment = lookup.cat.by_pk.get(pk)
        if segment is None:  # deleted since: nothing to answer it with
            continue
        now_member = membership is not None and membership.effective(segment)
        if not history.was_member(now_member, earliest.get(pk)):
            continue
        if include_inactive or segment.status(when.at) is SegmentStatus.ACTIVE:
            found.append(segment)
    return found


async def is_member_at(
    *, site_id: int, segment_pk: int | None, external_id: str, at: datetime
) -> bool | None:
    """Whether the member was an effective member of the live segment at ``at`` (None: no
    such segment now). HistoryUnavailable before the retained history."""
    when = await history.moment(site_id=site_id, at=at, now=datetime.now(UTC))
    lookup = await load(site_id=site_id, external_ids=[external_id], now=when.judged)
    segment = lookup.cat.by_pk.get(segment_pk) if segment_pk is not None else None
    if segment is None:
        return None
    if segment.status(when.at) is not SegmentStatus.ACTIVE:
        return False
    earliest = await history.earliest_after(
        site_id=site_id, member_ref=external_id, at=when.at, segment_pk=segment.pk
    )
    membership = lookup.membership(external_id)
    now_member = membership is not None and membership.effective(segment)
    return history.was_member(now_member, earliest.get(segment.pk))


# isMember's own statement: the site row (its segments version, whether it keeps rule
# matches), the member, and each way it may be tied to the one segment ($3), an index probe
# each: never the member's other ties
_IS_MEMBER = (
    "SELECT s.segments_version AS v, ks.id AS kept, m.id AS mid,"
    " EXISTS (SELECT 1 FROM segment_exclusions x WHERE x.segment_id = $3"
    "  AND x.member_id = m.id) AS excluded,"
    " EXISTS (SELECT 1 FROM segment_members l WHERE l.segment_id = $3 AND l.member_id = m.id"
    "  AND (l.expires_at IS NULL OR l.expires_at > $4))"
    " OR EXISTS (SELECT 1 FROM segment_companies sc WHERE sc.segment_id = $3"
    "  AND sc.company_id = m.company_id) AS tied,"
    " EXISTS (SELECT 1 FROM segment_rule_matches r WHERE r.segment_id = $3"
    "  AND r.member_id = m.id) AS matched"
    " FROM sites s LEFT JOIN membership_sites ks ON ks.site_id = s.id"
    " LEFT JOIN members m ON m.site_id = s.id AND m.external_id = $2 WHERE s.id = $1"
)


# isMember of several (member, segment) pairs at once (a batch of app.lookups.coalesce): the
# same probes, for each pair
_IS_MEMBERS = (
    "SELECT s.segments_version AS v, ks.id AS kept, q.external_id, q.segment_id, m.id AS mid,"
    " EXISTS (SELECT 1 FROM segment_exclusions x WHERE x.segment_id = q.segment_id"
    "  AND x.member_id = m.id) AS excluded,"
    " EXISTS (SELECT 1 FROM segment_members l WHERE l.segment_id = q.segment_id"
    "  AND l.member_id = m.id AND (l.expires_at IS NULL OR l.expires_at > $4))"
    " OR EXISTS (SELECT 1 FROM segment_companies sc WHERE sc.segment_id = q.segment_id"
    "  AND sc.company_id = m.company_id) AS tied,"
    " EXISTS (SELECT 1 FROM segment_rule_matches r WHERE r.segment_id = q.segment_id"
    "  AND r.member_id = m.id) AS matched"
    " FROM sites s LEFT JOIN membership_sites ks ON ks.site_id = s.id"
    " CROSS JOIN unnest(CAST($2 AS text[]), CAST($3 AS bigint[])) AS q(external_id, segment_id)"
    " LEFT JOIN members m ON m.site_id = s.id AND m.external_id = q.external_id"
    " WHERE s.id = $1"
)


async def _is_member_read(
    pool: asyncpg.Pool | None, site_id: int, pairs: list[tuple[str, int]]
) -> tuple[dict[tuple[str, int], Any], datetime]:
    """isMember's row of each (member id, segment pk) pair (none when the site has no row),
    and the moment listings' expiry was judged at. One pair: its own statement, as always."""
    now = datetime.now(UTC)
    if len(pairs) == 1:
        external_id, segment_pk = pairs[0]
        rows = await fetch(_IS_MEMBER, [site_id, external_id, segment_pk, ts(now)], pool=pool)
        return ({pairs[0]: rows[0]} if rows else {}), now
    params = [site_id, [p[0] for p in pairs], [p[1] for p in pairs], now]
    rows = await fetch(_IS_MEMBERS, params, pool=pool)
    return {(row["external_id"], int(row["segment_id"])): row for row in rows}, now


async def is_member(*, site_id: int, segment_pk: int | None, external_id: str) -> bool | None:
    """Whether the member is an effective member of the segment, ACTIVE now (None: the site
    has no such segment): one statement probing only that segment's ties (on the pool,
    shared with the isMember lookups of the site asked meanwhile: app.lookups.coalesce);
    the answer of ``load(...).membership(...).counts(segment, include_inactive=False)``."""
    if segment_pk is None:
        return None
    pair = (external_id, segment_pk)
    c = conn()
    pool = c._pool if type(c) is AsyncpgDBClient else None
    if pool is None:
        rows, now = await _is_member_read(None, site_id, [pair])
    else:
        rows, now = await _coalescer.ask((pool, site_id, _PAIRS), [pair])
    row = rows.get(pair)
    if row is None:
        return None
    segment = (await catalogue.get(site_id, int(row["v"]))).by_pk.get(segment_pk)
    if segment is None:
        return None
    if segment.status(now) is not SegmentStatus.ACTIVE or row["mid"] is None:
        return False
    if segment.dynamic and row["kept"] is None:
        # the site keeps no rule matches: the rule is evaluated by the general lookup
        lookup = await load(site_id=site_id, external_ids=[external_id], now=now)
        membership = lookup.membership(external_id)
        return membership is not None and membership.effective(segment)
    return not row["excluded"] and (bool(row["tied"]) or (segment.dynamic and bool(row["matched"])))
