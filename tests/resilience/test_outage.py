"""A database that cannot be reached is a 503 SERVICE_UNAVAILABLE with Retry-After, never a
500 or a masked INTERNAL: in the key lookup, in a resolver, in the compiled isMember path,
and for a connection dropped mid-request; the server recovers by itself once the database
is back. A uvicorn process reaches PostgreSQL through a proxy the test cuts off."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

from app.auth.models import Role
from app.auth.service import create_key, create_site
from app.db import normalize_url
from tests.conftest import TEST_DATABASE_URL
from tests.resilience.support import Proxy, Server

SEGMENTS = "query { segments { totalCount } }"
CREATE = """mutation($name: String!) {
  createSegment(input: {name: $name}) { segment { id } userErrors { code } } }"""
IS_MEMBER = "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"


def _through(proxy: Proxy) -> str:
    parts = urlsplit(normalize_url(TEST_DATABASE_URL))
    netloc = f"{parts.username or 'postgres'}@127.0.0.1:{proxy.port}"
    # a small pool that gives up connecting quickly: the outage must show within the test
    return urlunsplit((parts.scheme, netloc, parts.path, "minsize=1&maxsize=4", ""))


@pytest.fixture
async def proxy(db: None) -> AsyncIterator[Proxy]:
    parts = urlsplit(normalize_url(TEST_DATABASE_URL))
    p = Proxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def server(proxy: Proxy) -> AsyncIterator[Server]:
    # keys are trusted for a minute: the resolvers meet the outage, not only the key lookup
    s = Server({"DATABASE_URL": _through(proxy), "KEY_CACHE_SECONDS": "60"})
    try:
        await s.ready()
        yield s
    finally:
        s.stop()


async def _key(slug: str) -> str:
    site = await create_site(slug=slug)
    _, secret = await create_key(site_id=site.id, name="admin", role=Role.ADMIN)
    return secret


async def _post(
    client: httpx.AsyncClient, server: Server, key: str, query: str, **variables: Any
) -> httpx.Response:
    return await client.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {key}"},
    )


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["retry-after"] == "1"
    codes = {e["extensions"]["code"] for e in response.json()["errors"]}
    assert codes == {"SERVICE_UNAVAILABLE"}, response.text[:500]


async def test_an_outage_is_a_503_and_the_server_recovers(server: Server, proxy: Proxy) -> None:
    key = await _key("acme")
    fresh_key = await _key("globex")  # never used before the outage: its lookup needs the db
    async with httpx.AsyncClient(timeout=30) as client:
        created = await _post(client, server, key, CREATE, name="Before")
        segment_id = created.json()["data"]["createSegment"]["segment"]["id"]
        assert (await _post(client, server, key, SEGMENTS)).status_code == 200

        # when the database cannot be reached (connections refused, open ones dropped)
        await proxy.stop()

        # then every kind of request is a 503 SERVICE_UNAVAILABLE with Retry-After
        for _ in range(3):
            _unavailable(await _post(client, server, key, SEGMENTS))
            _unavailable(await _post(client, server, key, CREATE, name="During"))
            _unavailable(await _post(client, server, key, IS_MEMBER, s=segment_id, m="m1"))
            _unavailable(await _post(client, server, fresh_key, SEGMENTS))  # the key lookup
        ready = await client.get(f"{server.url}/readyz")
        assert ready.status_code == 503

        # when the database is back, the server recovers by itself
        await proxy.start()
        deadline = time.monotonic() + 10
        while (response := await _post(client, server, fresh_key, SEGMENTS)).status_code != 200:
            assert response.status_code == 503, response.text[:500]
            assert time.monotonic() < deadline, "not recovered 10 s after the database came back"
            await asyncio.sleep(0.1)
        assert "errors" not in response.json()
        assert response.json()["data"] == {"segments": {"totalCount": 0}}
        after = await _post(client, server, key, SEGMENTS)
        assert "errors" not in after.json()
        assert after.json()["data"] == {"segments": {"totalCount": 1}}


async def test_a_connection_dropped_mid_request_is_a_503(server: Server, proxy: Proxy) -> None:
    key = await _key("acme")
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await _post(client, server, key, SEGMENTS)).status_code == 200

        # when the database stops answering while a request waits on it, and its
        # connection is then dropped
        proxy.hold()
        pending = asyncio.create_task(_post(client, server, key, CREATE, name="Dropped"))
        await asyncio.sleep(0.5)
        assert not pending.done()
        proxy.drop()
        proxy.release()

        # then that request is a 503, not a 500
        _unavailable(await pending)

        # and the next ones are served again on new connections
        deadline = time.monotonic() + 10
        while (response := await _post(client, server, key, SEGMENTS)).status_code != 200:
            assert response.status_code == 503, response.text[:500]
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        # the dropped request's transaction was never committed
        assert "errors" not in response.json()
        assert response.json()["data"] == {"segments": {"totalCount": 0}}
