"""Request errors (no execution) and field errors (execution started) apart: only the first
change the HTTP status; a document of several operations without operationName is one."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest

from tests.factories import Api, members, segment

GR_JSON = "application/graphql-response+json"


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def _post(api: Api, body: Any, accept: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api.key}"}
    if accept is not None:
        headers["Accept"] = accept
    return await api.client.post("/graphql", json=body, headers=headers)


# ------------------------------------------------------------------ field errors: 200


@pytest.mark.parametrize("accept", [None, GR_JSON])
async def test_a_field_too_large_after_a_committed_mutation_is_200(
    api: Api, accept: str | None
) -> None:
    # given a segment and a member
    seg = await segment(api, "Page")
    await members(api, "zz2")

    # when a mutation adds the member, then asks for a page over the limit
    mutation = (
        'mutation($s: ID!) { updateSegmentMembers(input: {segmentId: $s, memberIds: ["zz2"],'
        " mode: ADD}) { added segment { members(first: 501) { totalCount } } } }"
    )
    response = await _post(api, {"query": mutation, "variables": {"s": seg["id"]}}, accept)

    # then the answer is a 200 with the data and the field's TOO_LARGE
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"]["updateSegmentMembers"]["added"] == 1
    assert _codes(body) == ["TOO_LARGE"]
    # and the write is there
    check = await api.query("query($s: ID!) { segment(id: $s) { memberCount } }", {"s": seg["id"]})
    assert check["segment"]["memberCount"] == 1


@pytest.mark.parametrize("accept", [None, GR_JSON])
async def test_a_query_field_too_large_with_partial_data_is_200(
    api: Api, accept: str | None
) -> None:
    # when a query has one field over the page size and another that answers
    seg = await segment(api, "Page")
    query = (
        "query($s: ID!) { viewer { role } segment(id: $s) { members(first: 501) { totalCount } } }"
    )
    response = await _post(api, {"query": query, "variables": {"s": seg["id"]}}, accept)

    # then it is 200 with the partial data and the code
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] == {"viewer": {"role": "ADMIN"}, "segment": None}
    assert _codes(body) == ["TOO_LARGE"]


# ------------------------------------------------------------------ several operations

TWO = (
    'mutation M { upsertMembers(members: [{id: "multi1"}]) { created } }'
    " query Q { viewer { role } }"
)
HOT = (
    "query IsMember($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
    ' mutation M { upsertMembers(members: [{id: "multi1"}]) { created } }'
)


def _sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


async def _member_exists(api: Api) -> bool:
    data = await api.query('{ member(id: "multi1") { id } }')
    return data["member"] is not None


def _refused(response: httpx.Response, status: int = 200) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert _codes(body) == ["OPERATION_RESOLUTION_FAILURE"], body
    assert "operationName" in body["errors"][0]["message"]
    if status == 200:  # application/json: data null, as a validation error's answer
        assert "data" in body and body["data"] is None, body
    else:  # application/graphql-response+json: 400, no data
        assert "data" not in body, body


@pytest.mark.parametrize(("accept", "status"), [(None, 200), (GR_JSON, 400)])
async def test_several_operations_without_operation_name_are_refused_over_post(
    api: Api, accept: str | None, status: int
) -> None:
    # when a document of a mutation and a query is posted without operationName
    response = await _post(api, {"query": TWO}, accept)

    # then it is a request error, and nothing ran
    _refused(response, status)
    assert not await _member_exists(api)


async def test_several_operations_with_operation_name_run_the_one_named(api: Api) -> None:
    body = (await _post(api, {"query": TWO, "operationName": "Q"})).json()
    assert body == {"data": {"viewer": {"role": "ADMIN"}}, "extensions": body["extensions"]}
    assert not await _member_exists(api)


async def test_several_operations_without_operation_name_are_refused_over_get(api: Api) -> None:
    query = "query A { viewer { role } } query B { viewer { role } }"
    response = await api.client.get(
        "/graphql", params={"query": query}, headers={"Authorization": f"Bearer {api.key}"}
    )
    _refused(response)


async def test_several_operations_as_a_persisted_query_are_refused(api: Api) -> None:
    extensions = {"persistedQuery": {"version": 1, "sha256Hash": _sha(TWO)}}
    # registered with its text, then sent by its hash alone: refused both times
    _refused(await _post(api, {"query": TWO, "extensions": extensions}))
    _refused(await _post(api, {"extensions": extensions}))
    assert not await _member_exists(api)


async def test_a_hot_document_of_several_operations_is_refused_every_time(api: Api) -> None:
    # given a segment and a member, and a document whose first operation could be planned
    seg = await segment(api, "Hot")
    variables = {"s": seg["id"], "m": "nobody"}
    # when it is sent again and again (a document seen twice is planned)
    for _ in range(3):
        _refused(await _post(api, {"query": HOT, "variables": variables}))
    # then nothing ran
    assert not await _member_exists(api)


async def test_a_planned_document_with_a_malformed_operation_name_or_extensions_is_refused(
    api: Api, answered: list[Any]
) -> None:
    # given a document sent twice, so that it is planned
    seg = await segment(api, "Planned")
    query = f'query Q {{ isMember(segmentId: "{seg["id"]}", memberId: "u1") }}'
    for _ in range(2):
        assert (await _post(api, {"query": query})).json()["data"] == {"isMember": False}
    assert answered == [{"isMember": False}]
    digest = _sha(query)
    await _post(api, {"query": query, "extensions": {"persistedQuery": _persisted(digest)}})
    # when it comes with an operationName that is not a string, or extensions not an object
    for malformed in (
        {"query": query, "operationName": 5},
        {"query": query, "extensions": "x"},
        {"operationName": 7, "extensions": {"persistedQuery": _persisted(digest)}},
    ):
        planned = await _post(api, malformed)
        # then it is refused as the executor refuses it (the same document, changed)
        executed = await _post(api, {**malformed, "query": query + " # executor"})
        assert planned.status_code == executed.status_code == 400, malformed
        assert planned.json() == executed.json()
        assert _codes(planned.json()) == ["BAD_REQUEST"]


def _persisted(digest: str) -> dict[str, Any]:
    return {"version": 1, "sha256Hash": digest}


async def test_a_planned_get_with_a_blank_parameter_is_answered_as_the_executor_answers(
    api: Api, answered: list[Any]
) -> None:
    # given a document sent twice over GET, so that it is planned
    seg = await segment(api, "Planned")
    query = f'query Q {{ isMember(segmentId: "{seg["id"]}", memberId: "u1") }}'
    headers = {"Authorization": f"Bearer {api.key}"}
    for _ in range(2):
        got = await api.client.get("/graphql", params={"query": query}, headers=headers)
        assert got.json()["data"] == {"isMember": False}
    assert answered == [{"isMember": False}]
    # when it comes with a blank operationName, variables or extensions
    for blank in ("operationName", "variables", "extensions"):
        planned = await api.client.get(
            "/graphql", params={"query": query, blank: ""}, headers=headers
        )
        # then it is answered as the executor answers it (the same document, changed)
        executed = await api.client.get(
            "/graphql", params={"query": query + " # executor", blank: ""}, headers=headers
        )
        assert planned.status_code == executed.status_code, blank
        assert planned.json() == executed.json(), blank
        assert "data" not in planned.json() or planned.json()["data"] is None, blank
        assert planned.json()["errors"], blank
