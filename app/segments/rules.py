"""Rules as segments use them: checked before they are saved, validated for editors, the
fields an editor can offer, and who names whom."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import fetch, json_type, json_value
from app.errors import DomainError, ErrorCode
from app.rules import RULE_FIXED_FIELDS, ParsedRule, RuleProblem, ast_to_json, parse
from app.rules.fields import KEY
from app.segments.models import Segment

FIELD_SAMPLE = 2000  # the newest members (and companies) whose attributes ruleFields reads
EXAMPLES = 3


@dataclass
class Validation:
    valid: bool
    problems: list[RuleProblem]
    normalized: str | None
    fields: list[str]


@dataclass
class RuleField:
    path: str
    type: str
    examples: list[str] = field(default_factory=list)


async def _rules_of_site(
    site_id: int, connection: BaseDBAsyncClient | None
) -> tuple[dict[str, list[str]], set[str]]:
    """Segment name -> the names its rule names; and every segment name of the site."""
    query = Segment.filter(site_id=site_id)
    rows = await (query.using_db(connection) if connection else query).values_list("name", "rule")
    graph = {str(name): parse(rule).segment_names for name, rule in rows if rule is not None}
    return graph, {str(name) for name, _ in rows}


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


async def _problems(
    site_id: int, parsed: ParsedRule, segment_name: str | None, connection: BaseDBAsyncClient | None
) -> list[RuleProblem]:
    """What a well-formed rule gets wrong against the site: unknown segment names, cycles."""
    if not parsed.segment_refs:
        return []
    graph, known = await _rules_of_site(site_id, connection)
    problems = [
        RuleProblem(f"in_segment names no segment: {name!r}", line, column)
        for name, line, column in parsed.segment_refs
        if name not in known and name != segment_name
    ]
    if segment_name is not None:
        graph[segment_name] = parsed.segment_names
        cycle = _cycle(graph, segment_name)
        if cycle:
            line, column = next((ln, col) for n, ln, col in parsed.segment_refs if n == cycle[1])
            problems.append(
                RuleProblem("the rule makes a cycle: " + " -> ".join(cycle), line, column)
            )
    return sorted(problems, key=lambda p: (p.line, p.column))


async def check_rule(
    *, site_id: int, rule: str, segment_name: str, connection: BaseDBAsyncClient
) -> Any:
    """The stored (parsed) form of a rule, or INVALID_RULE naming the first problem."""
    parsed = parse(rule)
    problems = parsed.problems or await _problems(site_id, parsed, segment_name, connection)
    if problems or parsed.ast is None:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise DomainError(
            ErrorCode.INVALID_RULE,
            f"line {first.line}, column {first.column}: {first.message}{more}",
            ["rule"],
        )
    return ast_to_json(parsed.ast)


async def validate(*, site_id: int, rule: str, segment_name: str | None = None) -> Validation:
    """Every problem of a rule, as a segment of this site (named segment_name) would have it."""
    parsed = parse(rule)
    problems = parsed.problems or await _problems(site_id, parsed, segment_name, None)
    return Validation(
        valid=not problems,
        problems=problems,
        normalized=parsed.normalized,
        fields=parsed.fields,
    )


async def referrers(*, site_id: int, name: str, connection: BaseDBAsyncClient) -> list[str]:
    """The names of the other segments whose rules name this one."""
    graph, _ = await _rules_of_site(site_id, connection)
    return sorted(other for other, names in graph.items() if name in names and other != name)


async def rule_fields(*, site_id: int) -> list[RuleField]:
    """The fixed fields, then the attribute paths found in the site's newest members and
    companies, each with its most common JSON type and a few example values."""
    plans = await fetch(
        "SELECT DISTINCT plan FROM companies WHERE site_id = $1 AND plan IS NOT NULL"
        f" ORDER BY plan LIMIT {EXAMPLES}",
        [site_id],
    )
    fixed = [RuleField(path, kind) for path, kind in RULE_FIXED_FIELDS]
    for f in fixed:
        if f.path == "company.plan":
            f.examples = [str(r["plan"]) for r in plans]
    found: list[RuleField] = []
    for table, prefix in (("members", "attributes."), ("companies", "company.attributes.")):
        rows = await fetch(
            f"SELECT attributes FROM {table} WHERE site_id = $1 ORDER BY id DESC"
            f" LIMIT {FIELD_SAMPLE}",
            [site_id],
        )
        found.extend(_attribute_fields(prefix, (_json(r["attributes"]) for r in rows)))
    return fixed + found


def _json(value: Any) -> Any:
    return json_value(value)


def _attribute_fields(prefix: str, documents: Any) -> list[RuleField]:
    types: dict[str, Counter[str]] = {}
    examples: dict[str, list[str]] = {}

    def visit(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                if KEY.match(key):
                    visit(f"{path}.{key}" if path else key, inner)
            return
        if value is None or not path:
            return
        types.setdefault(path, Counter())[json_type(value)] += 1
        shown = examples.setdefault(path, [])
        text = value if isinstance(value, str) else orjson.dumps(value).decode()
        if len(shown) < EXAMPLES and text not in shown:
            shown.append(text)

    for document in documents:
        visit("", document)
    return [
        RuleField(prefix + path, types[path].most_common(1)[0][0], examples[path])
        for path in sorted(types)
    ]
