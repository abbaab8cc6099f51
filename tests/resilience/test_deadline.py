"""A request past REQUEST_TIMEOUT_SECONDS is cancelled: a 503 with the code TIMEOUT, its
transaction rolled back, and the server free for the next request."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from app.main import create_app
from app.memberships import catalogue
from app.settings import Settings
from tests.factories import make_api

CREATE = """mutation($name: String!) {
  createSegment(input: {name: $name}) { segment { id } userErrors { code } } }"""
SEGMENTS = "query { segments { totalCount } }"


@pytest.fixture
async def quick_client(app: Any, db: None) -> AsyncIterator[httpx.AsyncClient]:
    """An app of its own whose requests have a deadline of half a second."""
    application = create_app(Settings(request_timeout_seconds=0.5), init_orm=False)
    async with (
        LifespanManager(application),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=application), base_url="http://test"
        ) as client,
    ):
        yield client


async def test_a_request_past_its_deadline_is_cancelled_and_rolled_back(
    quick_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = await make_api(quick_client, slug="slow")
    bump = catalogue.bump
    stalled = asyncio.Event()

    async def slow_bump(*args: Any, **kwargs: Any) -> Any:
        # the segment row is written, the transaction still open: then the request stalls
        await bump(*args, **kwargs)
        stalled.set()
        await asyncio.sleep(60)

    monkeypatch.setattr(catalogue, "bump", slow_bump)

    # when a mutation stalls inside its transaction past the deadline
    started = time.monotonic()
    response = await api.post(CREATE, {"name": "Never"})
    took = time.monotonic() - started

    # then it is answered at the deadline with a 503 and the code TIMEOUT
    assert stalled.is_set()
    assert took < 5, took
    assert response.status_code == 503
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert "REQUEST_TIMEOUT_SECONDS" in body["errors"][0]["message"]
    assert response.headers["retry-after"] == "1"

    # and nothing it wrote was kept; the next request runs as usual
    monkeypatch.setattr(catalogue, "bump", bump)
    assert (await api.query(SEGMENTS))["segments"]["totalCount"] == 0
    created = await api.query(CREATE, {"name": "Now"})
    assert created["createSegment"]["userErrors"] == []
    assert (await api.query(SEGMENTS))["segments"]["totalCount"] == 1
