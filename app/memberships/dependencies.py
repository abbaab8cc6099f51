"""Rules' dependencies: which segments a rule names through in_segment(), which rules depend
on a segment, the order their changes are recorded in, and which rules read the clock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from app.memberships.catalogue import Catalogue, SegmentDef
from app.rules import nodes, segment_names_of


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


def order(cat: Catalogue, pks: Sequence[int], column: str) -> str:
    """ORDER BY terms putting a segment's changes after those of the segments it names."""
    levels = {pk: _level(cat, cat.by_pk[pk]) for pk in pks if pk in cat.by_pk}
    if len(set(levels.values())) <= 1:
        return ""
    cases = " ".join(f"WHEN {int(pk)} THEN {lvl}" for pk, lvl in levels.items())
    return f"CASE {column} {cases} ELSE 0 END, "


def by_level(cat: Catalogue, segments: Sequence[SegmentDef]) -> list[SegmentDef]:
    return sorted(segments, key=lambda s: (_level(cat, s), s.pk))
