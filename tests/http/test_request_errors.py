"""Request errors (no execution) and field errors (execution started) apart: only the first
change the HTTP status; a document of several operations without operationName is one."""

from __future__ import annotations

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
