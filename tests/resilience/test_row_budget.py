"""Work that is admitted cannot grow past a bound: all the connections of one operation
return at most MAX_RESULT_ROWS rows together (pages x nested pages x aliases), past which the
operation is refused with TOO_LARGE instead of holding the event loop while it is built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.settings import Settings
from tests.factories import make_api, members, segment

NESTED = """
query { segments(first: 500) { edges { node {
  name members(first: 500) { edges { node { id } } }
} } } }
"""
ALIASED = "query { a: segments { totalCount edges { node { id } } }"
ALIASED += " b: segments { edges { node { id } } } c: segments { edges { node { id } } } }"


@pytest.fixture
async def small_budget(app: Any, db: None) -> AsyncIterator[httpx.AsyncClient]:
    # the cost limit bounds what a document asks for; this is about the rows it gets: off
    settings = Settings(max_result_rows=10, max_query_cost=100_000_000)
    application = create_app(settings, init_orm=False)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://test"
        ) as client,
    ):
        yield client


async def test_an_operation_past_the_row_budget_is_refused(
    small_budget: httpx.AsyncClient,
) -> None:
    # given 4 segments of 3 members each: 16 rows for a nested listing, 12 for 3 aliases
    api = await make_api(small_budget, slug="acme")
    await members(api, "m1", "m2", "m3")
    for name in ("A", "B", "C", "D"):
        await segment(api, name, memberIds=["m1", "m2", "m3"])

    for document in (NESTED, ALIASED):
        # when an operation asks for more rows than the budget of 10, in all
        body = await api.raw(document)

        # then it is refused with TOO_LARGE, naming the limit
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"TOO_LARGE"}, body
        assert "MAX_RESULT_ROWS" in body["errors"][0]["message"]

    # and an operation within the budget runs
    data = await api.query("query { a: segments(first: 4) { edges { node { name } } } }")
    assert [e["node"]["name"] for e in data["a"]["edges"]] == ["A", "B", "C", "D"]
