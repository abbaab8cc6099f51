"""Effective membership as one SQL condition on a member row, for rule-made (DYNAMIC) segments.

A member ``m`` (with its company ``c`` LEFT JOINed) is an effective member of segment S when
  (listed in S, unexpired) OR (its company is listed in S) OR (S is DYNAMIC and its rule is true)
  AND NOT excluded from S.
The condition is always TRUE or FALSE, never unknown, so that ``in_segment('S')`` inside
another rule reads as the Python evaluator's answer does. Listings and counts of DYNAMIC
segments scan the site's members once with it; static segments keep the cheaper union of
their lists (service.py), which means the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from app.db import is_postgres, ts
from app.memberships.catalogue import Catalogue, SegmentDef
from app.rules import Held, compile_sql, fields_of, segment_names_of


@dataclass
class Query:
    """Parameters of a statement being built: ``bind`` returns the placeholder of a value."""

    params: list[Any] = field(default_factory=list)

    def bind(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"


def listed(pk: int, now: str) -> str:
    return (
        f"m.id IN (SELECT l.member_id FROM segment_members l WHERE l.segment_id = {int(pk)}"
        f" AND (l.expires_at IS NULL OR l.expires_at > {now}))"
    )


def via_company(pk: int) -> str:
    return (
        "(m.company_id IS NOT NULL AND m.company_id IN (SELECT sc.company_id"
        f" FROM segment_companies sc WHERE sc.segment_id = {int(pk)}))"
    )


def excluded(pk: int) -> str:
    return f"m.id IN (SELECT x.member_id FROM segment_exclusions x WHERE x.segment_id = {int(pk)})"


class Conditions:
    """Builds member conditions for the segments of one catalogue, into one Query."""

    def __init__(
        self, catalogue: Catalogue, query: Query, now: datetime, held: Held | None = None
    ) -> None:
        self.catalogue = catalogue
        self.query = query
        self.now_moment = now
        self.held = held  # columns holding JSON fields' typed values (see compile_sql)
        self._now: str | None = None
        # the rule compiler (app/rules, which imports nothing of the app) takes the dialect
        self.dialect: Any = "postgres" if is_postgres() else "sqlite"

    @property
    def now(self) -> str:
        if self._now is None:
            self._now = self.query.bind(ts(self.now_moment))
        return self._now

    def rule(self, segment: SegmentDef) -> str:
        """The rule as SQL (NULL when unknown); in_segment() nests effective membership."""
        assert segment.rule is not None
        sql, _ = compile_sql(
            segment.rule,
            dialect=self.dialect,
            salt=segment.salt,
            in_segment_sql=self._in_segment,
            now=self.now_moment,
            params=self.query.params,
            held=self.held,
        )
        return sql

    def member(self, segment: SegmentDef) -> str:
        """TRUE exactly when m is an effective member of the segment (whatever its status)."""
        made = [listed(segment.pk, self.now), via_company(segment.pk)]
        if segment.dynamic:
            made.append(f"COALESCE({self.rule(segment)}, FALSE)")
        return f"(({' OR '.join(made)}) AND NOT {excluded(segment.pk)})"

    def eligible(self, segment: SegmentDef) -> str:
        """TRUE when the rule matches m but m is not (yet) an effective member, nor excluded."""
        return (
            f"(COALESCE({self.rule(segment)}, FALSE) AND NOT {listed(segment.pk, self.now)}"
            f" AND NOT {via_company(segment.pk)} AND NOT {excluded(segment.pk)})"
        )

    def _in_segment(self, name: str) -> str:
        other = self.catalogue.by_name.get(name)
        if other is None:  # a name no segment has: unknown, as in the Python evaluator
            return "CAST(NULL AS boolean)" if self.dialect == "postgres" else "NULL"
        return self.member(other)


def needs_company(catalogue: Catalogue, segment: SegmentDef) -> bool:
    """Whether the rule (or a rule it names through in_segment) reads company fields."""
    seen: set[int] = set()
    todo = [segment]
    while todo:
        current = todo.pop()
        if current.pk in seen or current.rule is None:
            continue
        seen.add(current.pk)
        if any(path.startswith("company.") for path in fields_of(current.rule)):
            return True
        todo.extend(
            catalogue.by_name[n] for n in segment_names_of(current.rule) if n in catalogue.by_name
        )
    return False


def members_from(join_company: bool) -> str:
    """FROM clause of a member scan: members m, with companies c when a rule reads them."""
    if join_company:
        return "members m LEFT JOIN companies c ON c.id = m.company_id"
    return "members m"
