"""The front of a planned POST (app.http.front) gives what the layers it stands for give: the
same answer and headers (compression included), the 401 of an unknown key before any plan
runs, the deadline's 503, the request id echoed, CORS where it is configured."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from app.lookups import service
from tests.factories import Api, members, segment
from tests.http.conftest import AppWith
from tests.lookups.support import executor_only

SEGMENTS = "query FrontSegments($m: ID!) { memberSegments(memberId: $m) { id name description } }"


async def _member_of_three(api: Api) -> None:
    await members(api, "m1")
    for name in ("One", "Two", "Three"):
        await segment(api, name, memberIds=["m1"], description="a segment " * 5)


def _post(api: Api, headers: dict[str, str], document: str = SEGMENTS) -> Any:
    return api.client.post(
        "/graphql",
        json={"query": document, "variables": {"m": "m1"}},
        headers={"Authorization": f"Bearer {api.key}", **headers},
    )


async def test_a_planned_answer_past_the_threshold_is_compressed_as_the_executors(
    api: Api, app_with: AppWith, monkeypatch: pytest.MonkeyPatch, answered: list[Any]
) -> None:
    # given a member of three segments, and an app compressing answers from 200 bytes
    await _member_of_three(api)
    async with app_with(compress_min_bytes=200) as small:
        for _ in range(2):  # hot
            await _post(small, {"Accept-Encoding": "gzip"})
        answered.clear()
        # when its segments are asked through the plan, then through the executor
        planned = await _post(small, {"Accept-Encoding": "gzip", "X-Request-Id": "front-1"})
        with executor_only(monkeypatch):
            executed = await _post(small, {"Accept-Encoding": "gzip", "X-Request-Id": "front-2"})
        # and an answer under the threshold (fewer leaves), hot too
        fewer = SEGMENTS.replace(" name description", "")
        for _ in range(3):
            small_answer = await _post(small, {"Accept-Encoding": "gzip"}, fewer)
    # then the plan answered, compressed as the executor's answer is, with the same body
    assert answered[0] is not None
    assert planned.json() == executed.json()
    assert len(planned.json()["data"]["memberSegments"]) == 3
    for header in ("content-type", "content-encoding", "vary"):
        assert planned.headers.get(header) == executed.headers.get(header), header
    assert planned.headers["content-encoding"] == "gzip"
    # and the request id given is echoed on both
    assert planned.headers["x-request-id"] == "front-1"
    assert executed.headers["x-request-id"] == "front-2"
    # and an answer under the threshold is sent as it is
    assert "content-encoding" not in small_answer.headers
    assert small_answer.json()["data"]["memberSegments"][0].keys() == {"id"}
    assert answered[-1] is not None


async def test_an_unknown_key_is_refused_before_any_plan_runs(
    api: Api, answered: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    # given a hot lookup document
    caplog.set_level(logging.INFO, logger="segments.access")
    await _member_of_three(api)
    for _ in range(2):
        await _post(api, {})
    answered.clear()
    # when it comes with a key nobody has
    response = await api.client.post(
        "/graphql",
        json={"query": SEGMENTS, "variables": {"m": "m1"}},
        headers={"Authorization": "Bearer seg_nobody"},
    )
    # then it is refused as every request with that key is, and no plan ran
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert answered == []
    # and its access line names the operation and the code
    line = [r for r in caplog.records if r.name == "segments.access"][-1]
    assert (line.status, line.operation, line.error_codes) == (  # type: ignore[attr-defined]
        401,
        "FrontSegments",
        ["UNAUTHENTICATED"],
    )


async def test_a_planned_request_past_its_deadline_is_cancelled(
    api: Api, app_with: AppWith, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a hot lookup document on an app whose requests have a deadline of 0.2 s
    await _member_of_three(api)
    async with app_with(request_timeout_seconds=0.2) as quick:
        for _ in range(2):
            await _post(quick, {})
        fetch = service.fetch

        async def stalled(*args: Any, **kwargs: Any) -> Any:
            await asyncio.sleep(60)
            return await fetch(*args, **kwargs)

        # when its plan's statement stalls
        monkeypatch.setattr(service, "fetch", stalled)
        response = await _post(quick, {"X-Request-Id": "late-1"})
    # then it is answered at the deadline, as any request is
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert response.headers["retry-after"] == "1"
    assert response.headers["x-request-id"] == "late-1"


async def test_a_planned_request_from_an_allowed_origin_gets_its_cors_headers(
    api: Api, app_with: AppWith, answered: list[Any]
) -> None:
    # given an app allowing one origin, and a hot lookup document
    await _member_of_three(api)
    async with app_with(cors_origins="https://app.example") as cors:
        for _ in range(2):
            await _post(cors, {"Origin": "https://app.example"})
        answered.clear()
        # when it is asked from that origin
        response = await _post(cors, {"Origin": "https://app.example"})
    # then the plan answers, with the CORS headers
    assert answered[0] is not None
    assert response.headers["access-control-allow-origin"] == "https://app.example"
    assert len(response.json()["data"]["memberSegments"]) == 3


async def test_an_empty_authorization_header_is_no_key_as_before(api: Api) -> None:
    # given a hot lookup document
    await _member_of_three(api)
    for _ in range(2):
        await _post(api, {})
    # when it comes with an empty Authorization header, and with none
    body = {"query": SEGMENTS, "variables": {"m": "m1"}}
    empty = await api.client.post("/graphql", json=body, headers={"Authorization": ""})
    none = await api.client.post("/graphql", json=body)
    # then both are answered as a request without a key is (not a refused key's 401)
    assert empty.status_code == none.status_code
    assert empty.json() == none.json()
    assert "www-authenticate" not in empty.headers
