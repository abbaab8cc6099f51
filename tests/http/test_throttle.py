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
