"""Automatic persisted queries (APQ): a miss, a registration and its hits (POST and GET, the
compiled isMember path too), and a hash that does not match its document."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from app.lookups import plans
from tests.factories import Api, members, segment

VIEWER = "{ viewer { role } }"
IS_MEMBER = "query IsMember($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"


def _sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def _ext(query: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": _sha(query)}}


async def _post(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {api.key}"}
    )
    result: dict[str, Any] = response.json()
    return result


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_an_unknown_hash_is_not_found(api: Api) -> None:
    body = await _post(api, {"extensions": _ext("{ viewer { role name } }")})
    assert _codes(body) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert body["errors"][0]["message"] == "PersistedQueryNotFound"


async def test_a_registered_hash_runs_on_post_and_get(api: Api) -> None:
    # given a document registered with its hash
    registered = await _post(api, {"query": VIEWER, "extensions": _ext(VIEWER)})
    assert registered["data"] == {"viewer": {"role": "ADMIN"}}

    # when the hash alone is sent, by POST and by GET
    posted = await _post(api, {"extensions": _ext(VIEWER)})
    got = await api.client.get(
        "/graphql",
        params={"extensions": json.dumps(_ext(VIEWER))},
        headers={"Authorization": f"Bearer {api.key}"},
    )

    # then the document runs
    assert posted["data"] == {"viewer": {"role": "ADMIN"}}
    assert got.status_code == 200
    assert got.json()["data"] == {"viewer": {"role": "ADMIN"}}


async def test_a_hash_that_does_not_match_its_document_is_refused(api: Api) -> None:
    body = await _post(api, {"query": VIEWER, "extensions": _ext("{ viewer { name } }")})
    assert _codes(body) == ["PERSISTED_QUERY_HASH_MISMATCH"]
    assert "data" not in body or body["data"] is None
    # and nothing was registered under that hash
    again = await _post(api, {"extensions": _ext("{ viewer { name } }")})
    assert _codes(again) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_another_version_is_refused(api: Api) -> None:
    body = await _post(
        api, {"extensions": {"persistedQuery": {"version": 2, "sha256Hash": _sha(VIEWER)}}}
    )
    assert _codes(body) == ["PERSISTED_QUERY_NOT_SUPPORTED"]


@pytest.mark.parametrize(
    ("persisted", "named"),
    [(_sha(VIEWER), "a string"), (1, "a number"), ([1, _sha(VIEWER)], "an array"), (None, "null")],
)
async def test_a_persisted_query_that_is_not_an_object_is_a_bad_request(
    api: Api, persisted: object, named: str
) -> None:
    # given a document registered with its hash, so a hash alone could run it
    await _post(api, {"query": VIEWER, "extensions": _ext(VIEWER)})
    # when persistedQuery is not an object, with the document or without it
    for body in (
        {"query": VIEWER, "extensions": {"persistedQuery": persisted}},
        {"extensions": {"persistedQuery": persisted}},
    ):
        response = await api.client.post(
            "/graphql", json=body, headers={"Authorization": f"Bearer {api.key}"}
        )
        # then it is refused, saying what it must be, and nothing runs
        assert response.status_code == 400, body
        answer = response.json()
        assert _codes(answer) == ["BAD_REQUEST"], body
        message = answer["errors"][0]["message"]
        assert "persistedQuery must be an object" in message
        assert message.endswith(f"not {named}")
        assert answer.get("data") is None


async def test_plans_serve_persisted_queries(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # given a member listed in a segment, and the isMember document registered
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    variables = {"s": seg["id"], "m": "m1"}
    answered: list[Any] = []
    original = plans.Plan.run

    async def spy(self: plans.Plan, *args: Any) -> Any:
        answered.append(await original(self, *args))
        return answered[-1]

    monkeypatch.setattr(plans.Plan, "run", spy)
    await _post(api, {"query": IS_MEMBER, "variables": variables, "extensions": _ext(IS_MEMBER)})

    # when the hash alone is sent with the variables
    body = await _post(
        api, {"variables": variables, "operationName": "IsMember", "extensions": _ext(IS_MEMBER)}
    )

    # then its plan answered it (a persisted query is planned at once)
    assert body["data"] == {"isMember": True}
    assert answered[-1] == {"isMember": True}
    assert len(answered) == 2
