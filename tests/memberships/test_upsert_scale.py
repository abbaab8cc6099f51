"""upsertMembers at size on a site with DYNAMIC segments: its statements do not grow with the
batch, and on SQLite none of them reads the batch's ids (a json_each parameter) once for every
row of a table it joins (what made 10,000 members on 60 segments take 70 s: the site's members
scanned, the whole JSON array re-read for each). No timings: the number of statements and the
query plans say it."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise import Tortoise

from app.db import is_postgres
from tests.factories import Api, count_statements, members, segment

RULES = (
    "attributes.tier IN ('gold', 'platinum') AND attributes.points >= 10",
    "email ENDS WITH '@example.com' OR attributes.beta = true",
    "NOT attributes.churned = true AND created_at >= days_ago(30)",
    "in_segment('s0') AND NOT in_segment('s1')",
)


async def _segments(api: Api) -> None:
    for i, rule in enumerate(RULES):
        await segment(api, f"s{i}", type="DYNAMIC", rule=rule)


def _rows(prefix: str, how_many: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"{prefix}{i}",
            "email": f"{prefix}{i}@example.com",
            "attributes": {"tier": "gold", "points": i, "beta": i % 2 == 0},
        }
        for i in range(how_many)
    ]


async def test_an_upserts_statements_do_not_grow_with_its_members(api: Api) -> None:
    await _segments(api)
    await members(api, "warm")  # the site's lock row and catalogue made once

    async def sent(rows: list[dict[str, Any]]) -> int:
        with count_statements() as statements:
            data = await api.query(
                "mutation($m: [MemberInput!]!) { upsertMembers(members: $m)"
                " { userErrors { code } } }",
                {"m": rows},
            )
        assert data["upsertMembers"]["userErrors"] == []
        return len([s for s in statements if "api_keys" not in s and '"sites"' not in s])

    # new members, then the same members changed: each batch size sends as many statements
    assert await sent(_rows("a", 3)) == await sent(_rows("b", 60))
    changed = [{**r, "attributes": {"points": 1000}} for r in _rows("a", 3)]
    changed_more = [{**r, "attributes": {"points": 1000}} for r in _rows("b", 60)]
    assert await sent(changed) == await sent(changed_more)


async def test_no_statement_of_an_upsert_rereads_its_ids_for_each_row_of_a_table(
    api: Api,
) -> None:
    await _segments(api)
    await members(api, *(f"old{i}" for i in range(50)))  # members of the site to scan
    client_class = type(Tortoise.get_connection("default"))
    sent: list[tuple[str, list[Any]]] = []
    arrays: list[str] = []

    def recording(original: Any) -> Any:
        async def wrapper(self: Any, query: str, values: Any = None, *a: Any, **k: Any) -> Any:
            if "json_each" in query and "EXPLAIN" not in query:
                sent.append((query, list(values or [])))
            if "unnest(" in query:
                arrays.append(query)
            return await original(self, query, values, *a, **k)

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        for name in ("execute_query", "execute_query_dict"):
            # on the class that defines it, which the transactions' wrapper shares with the
            # connection's own class (app.db subclasses Tortoise's SQLite client)
            owner = next(k for k in client_class.__mro__ if name in vars(k))
            patch.setattr(owner, name, recording(getattr(owner, name)))
        data = await api.query(
            "mutation($m: [MemberInput!]!) { upsertMembers(members: $m) { userErrors { code } } }",
            {"m": [*_rows("new", 20), *({"id": f"old{i}", "name": "x"} for i in range(20))]},
        )
    assert data["upsertMembers"]["userErrors"] == []
    if is_postgres():
        # PostgreSQL is given the ids as arrays, read once by unnest: no JSON to re-read
        assert sent == [] and arrays
        return
    assert sent
    connection = Tortoise.get_connection("default")
    for query, values in sent:
        plan = await connection.execute_query_dict(f"EXPLAIN QUERY PLAN {query}", values)
        # a loop's tables are siblings under one parent, outermost first: a virtual table
        # (json_each) after a table is re-read for each of that table's rows
        seen_table: set[int] = set()
        for step in plan:
            detail, parent = str(step["detail"]), int(step["parent"])
            if "VIRTUAL TABLE" in detail:
                assert parent not in seen_table, (query, plan)
            elif detail.startswith(("SCAN ", "SEARCH ")):
                seen_table.add(parent)
