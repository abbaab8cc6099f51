"""A document's cost is known before it runs: refused over MAX_QUERY_COST before any SQL,
reported on every answer, and the walk is linear in the document."""

from __future__ import annotations

import time
from typing import Any

import pytest
from graphql import parse

from app.graphql import cost
from app.schema import build_schema
from app.settings import get_settings
from tests.factories import Api, count_statements, members, segment, served

NESTED = """query($outer: Int, $inner: Int) {
  segments(first: $outer) { edges { node { id name
    members(first: $inner) { edges { node { id email company { id name } } } }
  } } }
}"""


def _cost(query: str, variables: dict[str, Any] | None = None) -> int:
    schema = build_schema(get_settings())
    return cost.document_cost(schema._schema, parse(query), variables)


def test_objects_cost_one_scalars_nothing_and_pages_multiply() -> None:
    assert _cost("{ viewer { role } }") == 1
    # segments(first: 10): 10 x (connection 1 + edges 1 + node 1)
    assert _cost("{ segments(first: 10) { edges { node { id name } } } }") == 30
    # the argument's default page size (50) when none is given
    assert _cost("{ segments { edges { node { id } } } }") == 150
    # a variable is read
    assert _cost("query($n: Int) { segments(first: $n) { totalCount } }", {"n": 7}) == 7


def test_a_mutation_costs_more_than_the_same_selection_as_a_query() -> None:
    mutation = 'mutation { deleteSegment(id: "1") { deletedId } }'
    assert _cost(mutation) >= cost.MUTATION_COST


def test_the_default_limit_admits_50_by_50_and_refuses_500_by_500() -> None:
    limit = get_settings().max_query_cost
    assert _cost(NESTED, {"outer": 50, "inner": 50}) <= limit
    assert _cost(NESTED, {"outer": 500, "inner": 500}) > limit


def test_fragments_are_costed_once_each_so_the_walk_is_linear() -> None:
    # given a chain of 60 fragments, each spreading the next twice (2^60 paths)
    depth = 60
    fragments = [f"fragment F{i} on Segment {{ ...F{i + 1} ...F{i + 1} }}" for i in range(depth)]
    fragments.append(f"fragment F{depth} on Segment {{ id }}")
    query = 'query { segment(id: "1") { ...F0 } }\n' + "\n".join(fragments)

    # when its cost is computed
    started = time.perf_counter()
    found = _cost(query)

    # then it ends at once (each fragment computed once)
    assert time.perf_counter() - started < 1.0
    assert found == 1


async def test_a_document_over_the_limit_is_refused_before_any_sql(api: Api) -> None:
    # given a site with a segment
    await members(api, "m1")
    await segment(api, "S", memberIds=["m1"])

    # when a 500 x 500 listing is asked for
    with count_statements() as statements:
        body = await api.raw(NESTED, {"outer": 500, "inner": 500})

    # then it is refused, naming its cost and the limit, and nothing ran on the database
    error = body["errors"][0]
    limit = get_settings().max_query_cost
    assert error["extensions"]["code"] == "MAX_COST_EXCEEDED"
    assert error["extensions"]["limit"] == limit
    assert error["extensions"]["cost"] > limit
    assert str(limit) in error["message"] and str(error["extensions"]["cost"]) in error["message"]
    assert body["data"] is None
    assert [s for s in statements if "api_keys" not in s and '"sites"' not in s] == []


def test_a_page_size_variable_is_costed_as_the_executor_coerces_it() -> None:
    # an Int given as a JSON float (500.0, 5e2) is the Int 500 to the executor: so to the cost
    assert _cost(NESTED, {"outer": 500.0, "inner": 5e2}) == _cost(
        NESTED, {"outer": 500, "inner": 500}
    )
    # a variable not given is its declared default, as the executor reads it
    defaulted = NESTED.replace("$outer: Int,", "$outer: Int = 500,").replace(
        "$inner: Int)", "$inner: Int = 500)"
    )
    assert _cost(defaulted) == _cost(NESTED, {"outer": 500, "inner": 500})
    assert _cost(defaulted, {"outer": 2, "inner": 3}) == _cost(NESTED, {"outer": 2, "inner": 3})
    # a value the executor refuses (past 32 bits, a string) costs the argument's default
    assert _cost(NESTED, {"outer": 3_000_000_000, "inner": "9"}) == _cost(NESTED)


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        (NESTED, {"outer": 500.0, "inner": 500.0}),
        (
            NESTED.replace("$outer: Int,", "$outer: Int = 500,").replace(
                "$inner: Int)", "$inner: Int = 500)"
            ),
            {},
        ),
    ],
    ids=["float-variables", "variable-defaults"],
)
async def test_a_page_size_cannot_pass_the_limit_as_a_float_or_a_default(
    api: Api, document: str, variables: dict[str, Any]
) -> None:
    # given a site with a segment
    await members(api, "m1")
    await segment(api, "S", memberIds=["m1"])

    # when 500 x 500 is asked with the sizes as 500.0, or as the variables' defaults
    with count_statements() as statements:
        body = await api.raw(document, variables)

    # then it is refused for its cost, as 500 x 500 is, before any SQL
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED", body
    assert body["errors"][0]["extensions"]["cost"] == _cost(NESTED, {"outer": 500, "inner": 500})
    assert body["data"] is None
    assert [s for s in statements if "api_keys" not in s and '"sites"' not in s] == []


async def test_a_page_size_past_32_bits_is_the_variables_error_not_a_cost(api: Api) -> None:
    body = await api.raw(NESTED, {"outer": 3_000_000_000, "inner": 1})

    # then the variable is refused (as the same literal is), not costed at three billion
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert "$outer" in error["message"] and "32-bit" in error["message"]
    assert body["extensions"]["cost"]["requestedQueryCost"] <= get_settings().max_query_cost


async def test_every_answer_reports_its_cost(api: Api) -> None:
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])

    body = await api.raw(NESTED, {"outer": 50, "inner": 50})
    assert "errors" not in body
    assert body["extensions"]["cost"]["requestedQueryCost"] == _cost(
        NESTED, {"outer": 50, "inner": 50}
    )

    # the compiled isMember path reports it too
    quick = await api.raw(
        "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }",
        {"s": seg["id"], "m": "m1"},
    )
    assert quick["data"] == {"isMember": True}
    assert quick["extensions"]["cost"]["requestedQueryCost"] == 1


def test_the_token_bucket_refills_at_its_rate() -> None:
    bucket = cost.Throttle(rate=10, capacity=100)
    assert bucket.take(1, 100, now=0.0) == 0
    assert bucket.take(1, 50, now=0.0) == pytest.approx(5.0)  # 50 more at 10 a second
    assert bucket.take(2, 100, now=0.0) == 0  # another key has its own bucket
    assert bucket.take(1, 50, now=5.0) == 0


def test_a_capped_limit_costs_the_cap_not_the_value_asked() -> None:
    cap = get_settings().max_picker_limit
    query = 'query($n: Int) { searchMembers(q: "x", limit: $n) { id } }'
    assert _cost(query, {"n": 100_000}) == cap
    assert _cost(query, {"n": 3}) == 3
    assert _cost('{ searchCompanies(q: "x", limit: 100000) { id } }') == cap


def test_a_cap_names_a_setting() -> None:
    with pytest.raises(ValueError):
        cost.capped_by("no_such_setting")


async def test_a_picker_limit_over_the_cap_answers_at_most_the_cap(api: Api) -> None:
    # given more members matching "x" than the picker cap
    cap = get_settings().max_picker_limit
    await members(api, *(f"x{i}" for i in range(cap + 5)))
    # when searched with a limit far over the cap
    query = 'query($n: Int) { searchMembers(q: "x", limit: $n) { id } }'
    body = await api.raw(query, {"n": 100_000})
    # then it is answered, capped, not refused
    assert "errors" not in body, body["errors"]
    assert len(body["data"]["searchMembers"]) == cap
    assert body["extensions"]["cost"]["requestedQueryCost"] == cap


MEMBERSHIPS = "query($m: [ID!]!) { membershipsOf(memberIds: $m) { memberId segmentIds } }"


def test_a_list_of_ids_costs_one_item_per_id() -> None:
    # given lookups answering one item per id or key asked, when costed
    ids = [f"u{i}" for i in range(1000)]
    # then each id costs as a page's row does
    assert _cost(MEMBERSHIPS, {"m": ids}) == 1000
    assert _cost('{ membershipsOf(memberIds: ["a", "b", "c"]) { memberId } }') == 3
    assert _cost('{ membershipsOf(memberIds: "a") { memberId } }') == 1  # a list of one
    assert _cost(MEMBERSHIPS, {"m": []}) == 1  # an operation costs at least 1
    aliases = " ".join(f"a{i}: membershipsOf(memberIds: $m) {{ memberId }}" for i in range(30))
    assert _cost(f"query($m: [ID!]!) {{ {aliases} }}", {"m": ids}) == 30_000
    assert _cost('{ resolveMembers(ids: ["a", "b"]) { id label } }') == 2
    assert _cost("query($i: [ID!]!) { resolveCompanies(ids: $i) { id } }", {"i": ids}) == 1000
    flags = 'query($k: [String!]) { evaluateFlags(memberId: "u", keys: $k) { key } }'
    assert _cost(flags, {"k": ["a", "b", "c", "d"]}) == 4
    assert _cost(flags, {"k": None}) == 1  # every flag: not known before it runs
    # and the ordinary hot document stays far under the default limit
    assert _cost(MEMBERSHIPS, {"m": ids[:100]}) == 100 < get_settings().max_query_cost


async def test_a_planned_lookup_over_the_limit_is_refused_as_the_executor_refuses_it(
    api: Api,
) -> None:
    # given a limit of 50 and a membershipsOf document, planned once hot
    await members(api, "m1")
    async with served(
        api, get_settings().model_copy(update={"max_query_cost": 50}), lifespan=False
    ) as small:
        few = {"m": ["m1"]}
        for _ in range(3):
            body = await small.raw(MEMBERSHIPS, few)
            assert body["extensions"]["cost"]["requestedQueryCost"] == 1
        # when it asks 100 ids, planned, then with the document changed (the executor's)
        many = {"m": [f"u{i}" for i in range(100)]}
        planned = await small.raw(MEMBERSHIPS, many)
        executed = await small.raw(MEMBERSHIPS + " # executor", many)
    # then both refuse it for its cost, the same way
    assert planned["errors"][0]["extensions"] == {
        "code": "MAX_COST_EXCEEDED",
        "cost": 100,
        "limit": 50,
    }
    assert planned == executed
