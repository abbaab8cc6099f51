"""Request limits: depth, aliases, tokens, page size and body size, each refused with a
message naming the limit, and nothing of a refused request is executed."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from graphql import get_introspection_query
from graphql.language import Lexer, Source, TokenKind

from app.settings import get_settings
from tests.factories import Api, companies, members, segment

# Each step goes one level deeper; the chain can be cut anywhere and still ends on an object.
# Small pages, so that the deepest query stays under the cost limit (MAX_QUERY_COST).
_DEEP_CHAIN = [
    "segments(first: 2)",
    "edges",
    "node",
    "members(first: 2)",
    "edges",
    "node",
    "company",
    "members(first: 2)",
    "edges",
    "node",
    "company",
    "members(first: 2)",
    "edges",
    "node",
]

SEGMENTS = "query { segments { totalCount } }"

CREATE_SEGMENT_DEEP = """
mutation {
  createSegment(input: {name: "Too deep"}) {
    segment {
      members { edges { node { company { members { edges { node {
        company { members { edges { node { id } } } }
      } } } } } } }
    }
  }
}
"""

PAGED_FIELDS = {
    "segments": "query($first: Int) { segments(first: $first) { totalCount } }",
    "members": "query($first: Int) { members(first: $first) { totalCount } }",
    "companies": "query($first: Int) { companies(first: $first) { totalCount } }",
    "Segment.members": """query($first: Int, $id: ID!) {
        segment(id: $id) { members(first: $first) { totalCount } } }""",
    "Segment.companies": """query($first: Int, $id: ID!) {
        segment(id: $id) { companies(first: $first) { totalCount } } }""",
    "Segment.events": """query($first: Int, $id: ID!) {
        segment(id: $id) { events(first: $first) { totalCount } } }""",
    "Company.members": """query($first: Int) {
        company(id: "acme") { members(first: $first) { totalCount } } }""",
}


def _deep_query(depth: int) -> str:
    """A query whose deepest selection is `depth` fields below the root."""
    selection = "id"
    for field in reversed(_DEEP_CHAIN[:depth]):
        selection = f"{field} {{ {selection} }}"
    return "query { " + selection + " }"


def _messages(body: dict[str, Any]) -> list[str]:
    return [e["message"] for e in body.get("errors", [])]


# ------------------------------------------------------------------ depth


async def test_query_at_the_depth_limit_runs(api: Api) -> None:
    limit = get_settings().max_query_depth
    assert len(_DEEP_CHAIN) > limit

    # given a segment with a member of a company
    await companies(api, "acme")
    await members(api, "m1", companyId="acme")
    await segment(api, "Deep", memberIds=["m1"])

    # when a query exactly at the depth limit is sent
    body = await api.raw(_deep_query(limit))

    # then it runs
    assert "errors" not in body, body
    assert body["data"]["segments"]["edges"][0]["node"]["members"]["edges"]


async def test_query_past_the_depth_limit_is_refused_naming_it(api: Api) -> None:
    limit = get_settings().max_query_depth

    # when a query one level deeper than the limit is sent
    body = await api.raw(_deep_query(limit + 1))

    # then it is refused, not run, with a message naming the limit
    assert body.get("data") is None
    assert any(f"depth of {limit}" in m for m in _messages(body)), body


async def test_a_too_deep_mutation_writes_nothing(api: Api) -> None:
    # when a mutation whose selection is deeper than the limit is sent
    body = await api.raw(CREATE_SEGMENT_DEEP)

    # then it is refused, and no segment was created
    assert body.get("data") is None
    assert any("depth" in m for m in _messages(body))
    assert (await api.query(SEGMENTS))["segments"]["totalCount"] == 0


async def test_introspection_is_not_held_to_the_depth_limit(api: Api) -> None:
    # when GraphiQL's introspection query (deeper than the limit) is sent
    body = await api.raw(get_introspection_query())

    # then the schema comes back
    assert "errors" not in body, body
    names = {t["name"] for t in body["data"]["__schema"]["types"]}
    assert {"Segment", "Member", "Company", "Viewer", "ApiKey"} <= names


# ------------------------------------------------------------------ aliases


def _aliased(count: int) -> str:
    return "query { " + " ".join(f"a{i}: viewer {{ role }}" for i in range(count)) + " }"


async def test_aliases_up_to_the_limit_run(api: Api) -> None:
    limit = get_settings().max_aliases

    # when a query with exactly the limit of aliases is sent
    data = await api.query(_aliased(limit))

    # then every alias is answered
    assert len(data) == limit
    assert data[f"a{limit - 1}"] == {"role": "ADMIN"}


async def test_aliases_past_the_limit_are_refused_naming_it(api: Api) -> None:
    limit = get_settings().max_aliases

    # when a query with one alias more than the limit is sent
    body = await api.raw(_aliased(limit + 1))

    # then it is refused with a message naming the limit
    assert body.get("data") is None
    assert any(f"Allowed: {limit}" in m for m in _messages(body)), body


# ------------------------------------------------------------------ tokens


def _token_count(query: str) -> int:
    lexer = Lexer(Source(query))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def _delete_with_tokens(count: int) -> str:
    """A deleteMembers mutation of exactly `count` tokens: every id "x" is one token."""
    query = "mutation { deleteMembers(ids: [" + ' "x"' * (count - 13) + " ]) { deleted } }"
    assert _token_count(query) == count
    return query


async def test_tokens_up_to_the_limit_run(api: Api) -> None:
    limit = get_settings().max_tokens

    # given member "x"
    await members(api, "x")

    # when a mutation of exactly the limit of tokens deletes it
    data = await api.query(_delete_with_tokens(limit))

    # then it runs
    assert data["deleteMembers"] == {"deleted": 1}


async def test_tokens_past_the_limit_are_refused_naming_it(api: Api) -> None:
    limit = get_settings().max_tokens

    # given member "x"
    await members(api, "x")

    # when a mutation one token over the limit is sent
    body = await api.raw(_delete_with_tokens(limit + 1))

    # then it is refused naming the limit, and not run: "x" is still there
    assert body.get("data") is None
    assert any(f"more than {limit} tokens" in m for m in _messages(body)), _messages(body)[:1]
    assert (await api.query('query { member(id: "x") { id } }'))["member"] == {"id": "x"}


# ------------------------------------------------------------------ page size


@pytest.mark.parametrize("field", list(PAGED_FIELDS))
async def test_page_size_over_the_limit_is_too_large_naming_it(api: Api, field: str) -> None:
    limit = get_settings().max_page_size
    await companies(api, "acme")
    made = await segment(api, "Paged")
    variables: dict[str, Any] = {"first": limit + 1}
    if "$id" in PAGED_FIELDS[field]:
        variables["id"] = made["id"]

    # when a page one over the limit is asked for
    body = await api.raw(PAGED_FIELDS[field], variables)

    # then the field fails with TOO_LARGE, naming the limit
    [error] = body["errors"]
    assert error["extensions"]["code"] == "TOO_LARGE"
    assert error["extensions"]["limit"] == limit
    assert str(limit) in error["message"]

    # and at the limit it answers
    at_limit = await api.raw(PAGED_FIELDS[field], {**variables, "first": limit})
    assert "errors" not in at_limit, at_limit


async def test_negative_page_size_is_invalid(api: Api) -> None:
    # when a negative page size is asked for
    body = await api.raw("query { segments(first: -1) { totalCount } }")

    # then it is refused
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID"]


@pytest.mark.parametrize(
    "query",
    [
        """query($after: String, $id: ID!) {
            segment(id: $id) { members(after: $after) { edges { node { id } } } } }""",
        """query($after: String, $id: ID!) {
            segment(id: $id) { events(after: $after) { edges { node { kind } } } } }""",
    ],
    ids=["Segment.members", "Segment.events"],
)
async def test_a_negative_cursor_is_invalid(api: Api, query: str) -> None:
    # given members, so that reading from the start gives something
    await members(api, "m1", "m2")
    made = await segment(api, "Everyone")
    # when a page is asked after a cursor holding a negative position
    negative = base64.urlsafe_b64encode(b"-5").decode()
    body = await api.raw(query, {"after": negative, "id": made["id"]})

    # then it is refused as a bad cursor, not read from the start
    assert [e["extensions"]["code"] for e in body.get("errors", [])] == ["INVALID"], body
    assert "negative" in body["errors"][0]["message"]


# ------------------------------------------------------------------ body size


async def test_body_over_the_size_limit_is_http_413_naming_it(api: Api) -> None:
    limit = get_settings().max_request_bytes

    # when a body one byte over the limit is posted
    response = await api.client.post(
        "/graphql",
        content=b" " * (limit + 1),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )

    # then it is refused with 413 and a message naming the limit
    assert response.status_code == 413
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "TOO_LARGE"
    assert str(limit) in error["message"]


async def test_chunked_body_over_the_size_limit_is_http_413(api: Api) -> None:
    limit = get_settings().max_request_bytes
    chunk = b" " * (1024 * 1024)

    async def body() -> AsyncIterator[bytes]:
        # no Content-Length: the size is only known while the body is read
        sent = 0
        while sent <= limit:
            yield chunk
            sent += len(chunk)

    # when a body over the limit is streamed without a Content-Length
    response = await api.client.post(
        "/graphql",
        content=body(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )

    # then it is refused with 413 too
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert str(limit) in response.json()["errors"][0]["message"]


async def test_chunked_body_under_the_limit_is_served(api: Api) -> None:
    # given a query streamed in pieces without a Content-Length
    payload = b'{"query": "{ viewer { role } }"}'

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(payload), 7):
            yield payload[i : i + 7]

    # when it is posted
    response = await api.client.post(
        "/graphql",
        content=body(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )

    # then it is answered as usual
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"role": "ADMIN"}}
