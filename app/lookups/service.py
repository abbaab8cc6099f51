"""Membership lookups for given members, answered in Python in a fixed number of queries.

isMember, memberSegments, membershipsOf, explainMembership, Member.segments and flag
evaluation all come here. Whatever the number of segments, a lookup reads:
1. the members (with their companies) and the site's segments version, in one statement;
2. every listing, company listing and exclusion of those members, in one statement;
3. the site's segments, only when the cached catalogue is behind that version.
Then each segment's effective membership is decided in Python with the parsed rules, the
same meaning the SQL of memberships.effective gives (the property tests hold them together).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from app.db import as_datetime, fetch, is_postgres
from app.rules import CompanyFacts, MemberFacts, evaluate
from app.segments import catalogue
from app.segments.catalogue import Catalogue, SegmentDef
from app.segments.models import SegmentStatus


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
    facts: MemberFacts
    listed: dict[int, datetime | None] = field(default_factory=dict)  # expiry, expired or not
    via_company: set[int] = field(default_factory=set)
    excluded: set[int] = field(default_factory=set)


class Membership:
    """Effective membership of one member, segment by segment, memoized for in_segment()."""

    def __init__(self, cat: Catalogue, state: MemberState, now: datetime) -> None:
        self.cat = cat
        self.state = state
        self.now = now
        self._memo: dict[int, bool] = {}

    def listed(self, pk: int) -> bool:
        if pk not in self.state.listed:
            return False
        expires = self.state.listed[pk]
        return expires is None or expires > self.now

    def rule_matches(self, segment: SegmentDef) -> bool:
        if segment.rule is None:
            return False
        result = evaluate(
            segment.rule,
            self.state.facts,
            salt=segment.salt,
            in_segment=self._in_segment,
            now=self.now,
        )
        return result is True

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
        if not include_inactive and segment.status(self.now) is not SegmentStatus.ACTIVE:
            return False
        return self.effective(segment)

    def candidates(self) -> Iterable[SegmentDef]:
        """The segments the member could be in: its lists, its company's, the dynamic ones."""
        pks = set(self.state.listed) | self.state.via_company
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

    def membership(self, external_id: str) -> Membership | None:
        state = self.members.get(external_id)
        return None if state is None else Membership(self.cat, state, self.now)


async def load(*, site_id: int, external_ids: Sequence[str]) -> Lookup:
    """Everything lookups need for these members, in two statements (three on a cache miss)."""
    now = datetime.now(UTC)
    ids = list(dict.fromkeys(external_ids))
    version, states = await _members(site_id, ids)
    if states:
        await _ties(site_id, states)
    cat = await catalogue.get(site_id, version)
    return Lookup(cat=cat, members={s.external_id: s for s in states.values()}, now=now)


def _ids_source(ids: list[str], start: int) -> tuple[str, list[Any]]:
    """A one-column list of the ids, from one array (PostgreSQL) or JSON (SQLite) parameter."""
    if is_postgres():
        return f"unnest(${start}::text[])", [ids]
    return f"(SELECT value FROM json_each(${start}))", [orjson.dumps(ids).decode()]


async def _members(site_id: int, ids: list[str]) -> tuple[int, dict[int, MemberState]]:
    if len(ids) == 1:
        match, params = "m.external_id = $2", [ids[0]]
    else:
        source, params = _ids_source(ids, 2)
        match = f"m.external_id IN (SELECT * FROM {source})"
    rows = await fetch(
        "SELECT s.segments_version, m.id, m.external_id, m.email, m.name, m.created_at,"
        " m.updated_at, m.attributes, m.bucket, c.external_id AS c_id, c.name AS c_name,"
        " c.plan AS c_plan, c.attributes AS c_attributes"
        f" FROM sites s LEFT JOIN members m ON m.site_id = s.id AND {match}"
        " LEFT JOIN companies c ON c.id = m.company_id WHERE s.id = $1",
        [site_id, *params],
    )
    version = int(rows[0]["segments_version"]) if rows else 0
    states: dict[int, MemberState] = {}
    for row in rows:
        if row["id"] is None:
            continue
        company = None
        if row["c_id"] is not None:
            company = CompanyFacts(
                external_id=row["c_id"],
                name=row["c_name"],
                plan=row["c_plan"],
                attributes=_json(row["c_attributes"]),
            )
        facts = MemberFacts(
            external_id=row["external_id"],
            email=row["email"],
            name=row["name"],
            created_at=_moment(row["created_at"]),
            updated_at=_moment(row["updated_at"]),
            attributes=_json(row["attributes"]),
            bucket=int(row["bucket"]),
            company=company,
        )
        states[int(row["id"])] = MemberState(int(row["id"]), row["external_id"], facts)
    return version, states


async def _ties(site_id: int, states: dict[int, MemberState]) -> None:
    pks = list(states)
    if is_postgres():
        members = "= ANY($2::bigint[])"
        params: list[Any] = [site_id, pks]
    else:
        members = "IN (SELECT value FROM json_each($2))"
        params = [site_id, orjson.dumps(pks).decode()]
    rows = await fetch(
        "SELECT 'L' AS k, l.member_id AS m, l.segment_id AS s, l.expires_at AS e"
        f" FROM segment_members l WHERE l.site_id = $1 AND l.member_id {members}"
        " UNION ALL SELECT 'C', mm.id, sc.segment_id, NULL FROM members mm"
        " JOIN segment_companies sc ON sc.company_id = mm.company_id"
        f" WHERE mm.site_id = $1 AND mm.id {members}"
        " UNION ALL SELECT 'X', x.member_id, x.segment_id, NULL FROM segment_exclusions x"
        f" WHERE x.site_id = $1 AND x.member_id {members}",
        params,
    )
    for row in rows:
        state = states[int(row["m"])]
        segment = int(row["s"])
        if row["k"] == "L":
            state.listed[segment] = _moment(row["e"]) if row["e"] is not None else None
        elif row["k"] == "C":
            state.via_company.add(segment)
        else:
            state.excluded.add(segment)


def _json(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    loaded = orjson.loads(value) if isinstance(value, str | bytes) else value
    return loaded if isinstance(loaded, dict) else {}


def _moment(value: Any) -> datetime:
    moment = as_datetime(value)
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def segments_of_members(
    *, site_id: int, keys: Sequence[tuple[str, bool]]
) -> dict[tuple[str, bool], list[int]]:
    """For each (member id, include inactive): the pks of its segments, in pk order."""
    lookup = await load(site_id=site_id, external_ids=[k[0] for k in keys])
    answers: dict[tuple[str, bool], list[int]] = {}
    for key in keys:
        membership = lookup.membership(key[0])
        segments = membership.segments(include_inactive=key[1]) if membership else []
        answers[key] = [s.pk for s in segments]
    return answers
