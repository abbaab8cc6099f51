"""Rules as segments use them: checked before they are saved, and who names whom."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.errors import DomainError, ErrorCode
from app.rules import ast_to_json, parse
from app.segments.models import Segment


async def _rules_of_site(site_id: int, connection: BaseDBAsyncClient) -> dict[str, list[str]]:
    """Segment name -> the segment names its rule names."""
    rows = (
        await Segment.filter(site_id=site_id, rule__isnull=False)
        .using_db(connection)
        .values_list("name", "rule")
    )
    return {name: parse(rule).segment_names for name, rule in rows}


def _cycle(graph: dict[str, list[str]], start: str) -> list[str] | None:
    """A path start -> ... -> start through in_segment references, if there is one."""
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        node, path = stack.pop()
        for nxt in graph.get(node, []):
            if nxt == start:
                return [*path, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


async def check_rule(
    *, site_id: int, rule: str, segment_name: str, connection: BaseDBAsyncClient
) -> Any:
    """The stored (parsed) form of a rule, or INVALID_RULE naming the first problem."""
    parsed = parse(rule)
    if parsed.problems or parsed.ast is None:
        first = parsed.problems[0]
        more = f" (and {len(parsed.problems) - 1} more)" if len(parsed.problems) > 1 else ""
        raise DomainError(
            ErrorCode.INVALID_RULE,
            f"line {first.line}, column {first.column}: {first.message}{more}",
            ["input", "rule"],
        )
    graph = await _rules_of_site(site_id, connection)
    rows = await Segment.filter(site_id=site_id).using_db(connection).values("name")
    known = {str(r["name"]) for r in rows}
    for name in parsed.segment_names:
        if name not in known and name != segment_name:
            raise DomainError(
                ErrorCode.INVALID_RULE,
                f"in_segment names no segment: {name!r}",
                ["input", "rule"],
            )
    graph[segment_name] = parsed.segment_names
    cycle = _cycle(graph, segment_name)
    if cycle:
        raise DomainError(
            ErrorCode.INVALID_RULE,
            "the rule makes a cycle: " + " -> ".join(cycle),
            ["input", "rule"],
        )
    return ast_to_json(parsed.ast)


async def referrers(*, site_id: int, name: str, connection: BaseDBAsyncClient) -> list[str]:
    """The names of the other segments whose rules name this one."""
    graph = await _rules_of_site(site_id, connection)
    return sorted(other for other, names in graph.items() if name in names and other != name)
