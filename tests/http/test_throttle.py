"""A per-key budget (THROTTLE_COST_PER_SECOND): past it, 429 with Retry-After and THROTTLED."""

from __future__ import annotations

from tests.factories import Api, segment
from tests.http.conftest import AppWith

LISTING = "{ segments(first: 10) { edges { node { id } } } }"  # costs 30


async def test_a_key_over_its_budget_is_throttled(api: Api, app_with: AppWith) -> None:
    await segment(api, "S")
    async with app_with(throttle_cost_per_second=1.0, throttle_burst=50) as limited:
        # given a budget of 50 refilled at 1 a second
        first = await limited.post(LISTING)
        assert first.status_code == 200
        assert first.json()["extensions"]["cost"]["requestedQueryCost"] == 30

        # when the same key asks again at once
        second = await limited.post(LISTING)

        # then it is told to wait, for about the time the missing cost takes to refill
        assert second.status_code == 429
        assert 1 <= int(second.headers["retry-after"]) <= 11
        error = second.json()["errors"][0]
        assert error["extensions"]["code"] == "THROTTLED"

        # and the compiled isMember path is throttled the same way
        for _ in range(25):
            last = await limited.post('{ isMember(segmentId: "1", memberId: "x") }')
        assert last.status_code == 429


OVER_BURST = "{ segments(first: 10) { edges { node { id } } } }"  # costs 30
PAGE = "query($s: ID!) { segment(id: $s) { members(first: 25) { edges { node { id } } } } }"


async def test_a_request_costing_more_than_the_burst_is_refused_with_its_own_code(
    api: Api, app_with: AppWith
) -> None:
    created = await segment(api, "S")
    async with app_with(throttle_cost_per_second=5.0, throttle_burst=20) as limited:
        # given a bucket that never holds more than 20, when a request costs 30
        answer = await limited.post(OVER_BURST)

        # then it is told it can never pass: its own code, both numbers, no Retry-After
        assert answer.status_code == 200  # a request error, as MAX_COST_EXCEEDED
        assert "retry-after" not in answer.headers
        error = answer.json()["errors"][0]
        assert error["extensions"] == {"code": "THROTTLE_BURST_EXCEEDED", "cost": 30, "burst": 20}
        assert "30" in error["message"] and "20" in error["message"]
        assert "THROTTLE_BURST" in error["message"]

        # and under application/graphql-response+json it is a 400 without data
        strict = await limited.client.post(
            "/graphql",
            json={"query": OVER_BURST},
            headers={
                "Authorization": f"Bearer {limited.key}",
                "Accept": "application/graphql-response+json",
            },
        )
        assert strict.status_code == 400
        assert "data" not in strict.json()
        assert strict.json()["errors"][0]["extensions"]["code"] == "THROTTLE_BURST_EXCEEDED"

        # and the budget was not spent: a request within it still passes
        small = await limited.post(
            'query($s: ID!) { isMember(segmentId: $s, memberId: "x") }', {"s": created["id"]}
        )
        assert small.json()["data"] == {"isMember": False}

        # and a planned document over the burst gets the same answer as the executor's
        page = {"s": created["id"]}  # costs 76
        answers = [await limited.post(PAGE, page) for _ in range(3)]  # planned from the second
        for planned in answers:
            assert planned.status_code == 200
            assert planned.json()["errors"][0]["extensions"]["code"] == "THROTTLE_BURST_EXCEEDED"
