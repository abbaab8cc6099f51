"""The document limits are measured in time linear in the document, fragments expanded once:
a fan-out of fragments, aliases or depth hidden in fragments, and documents that would make
graphql-core's OverlappingFieldsCanBeMerged compare thousands of pairs are refused at once
with a code, with or without a key; ordinary documents with fragments still run."""

from __future__ import annotations

import time

import httpx
from graphql import get_introspection_query, parse

from app.graphql.limits import measure
from app.settings import get_settings
from tests.factories import Api, members, segment
from tests.resilience.test_shutdown import fan_out

DEEP_FRAGMENTS = """
query { segments { edges { node { ...A } } } }
fragment A on Segment { members { edges { node { ...B } } } }
fragment B on Member { company { members { edges { node { ...C } } } } }
fragment C on Member { company { members { edges { node { id } } } } }
"""

ALIASES_IN_FRAGMENTS = "query { segments { edges { node { ...F0 } } } }\n" + "\n".join(
    [f"fragment F{i} on Segment {{ a{i}: id ...F{i + 1} ...F{i + 1} }}" for i in range(12)]
    + ["fragment F12 on Segment { last: id }"]
)

# 6 copies of the same field, each with 6 of the next: 216 fields merged at one place
MERGE_PAIRS = (
    "{ "
    + (
        "segments { edges { "
        + ("node { members { " + "edges { node { id } } " * 6 + "} } ") * 6
        + "} } "
    )
    * 6
    + "}"
)

FRAGMENTS_WITHIN_LIMITS = """
query Page {
  segments { edges { node {
    ...Row ...Counts members(first: 5) { edges { node { ...Person } } }
  } } }
}
fragment Row on Segment { id name status }
fragment Counts on Segment { id memberCount }
fragment Person on Member { id email company { id name } }
"""


def _codes(body: dict[str, object]) -> set[str]:
    errors = body.get("errors") or []
    assert isinstance(errors, list)
    return {e["extensions"]["code"] for e in errors}


async def test_a_fan_out_of_40_fragments_is_refused_at_once(
    api: Api, client: httpx.AsyncClient
) -> None:
    for headers in ({"Authorization": f"Bearer {api.key}"}, {}):
        # when a document of 40 fragments each spreading the next twice is sent
        started = time.perf_counter()
        response = await client.post("/graphql", json={"query": fan_out(40)}, headers=headers)
        took = time.perf_counter() - started

        # then it is refused as too complex, in far less than a naive walk's 2^40 steps
        assert response.status_code != 500
        assert _codes(response.json()) == {"QUERY_TOO_COMPLEX"}
        assert "MAX_SELECTIONS" in response.json()["errors"][0]["message"]
        assert took < 1.0, took


def test_measuring_is_linear_in_the_fragments() -> None:
    # the measure of the fan-out grows as 2^N, the time to take it does not
    for count in (20, 200):
        document = parse(fan_out(count))
        started = time.perf_counter()
        found = measure(document, cap=10**6)
        assert time.perf_counter() - started < 0.5
        assert found[None].selections == 10**6  # capped: 2^N * 2 would be astronomical


async def test_depth_hidden_in_fragments_is_refused(api: Api) -> None:
    body = await api.raw(DEEP_FRAGMENTS)
    assert body.get("data") is None
    assert _codes(body) == {"MAX_DEPTH_EXCEEDED"}
    assert f"depth of {get_settings().max_query_depth}" in body["errors"][0]["message"]


async def test_aliases_multiplied_by_fragments_are_refused(api: Api) -> None:
    body = await api.raw(ALIASES_IN_FRAGMENTS)
    assert body.get("data") is None
    assert "MAX_ALIASES_EXCEEDED" in _codes(body)


async def test_fields_merged_pairwise_past_the_limit_are_refused(api: Api) -> None:
    body = await api.raw(MERGE_PAIRS)
    assert body.get("data") is None
    assert _codes(body) == {"QUERY_TOO_COMPLEX"}
    assert "pairs of fields" in body["errors"][0]["message"]


async def test_a_document_with_fragments_within_the_limits_runs(api: Api) -> None:
    await members(api, "m1", email="a@example.com")
    await segment(api, "VIP", memberIds=["m1"])

    data = await api.query(FRAGMENTS_WITHIN_LIMITS)

    [edge] = data["segments"]["edges"]
    assert edge["node"]["name"] == "VIP"
    assert edge["node"]["memberCount"] == 1
    assert edge["node"]["members"]["edges"][0]["node"]["email"] == "a@example.com"


def test_graphiql_introspection_is_within_the_selection_limits() -> None:
    found = measure(parse(get_introspection_query()))
    assert found["IntrospectionQuery"].selections < get_settings().max_selections
