"""Revoking a key ends its WebSocket sessions: closed with 4403, and nothing more runs on
them. In the revoking process at once; in another process (the CLI revoking, a server
holding the session) at once on PostgreSQL (NOTIFY) and within KEY_CACHE_SECONDS on SQLite.
Real graphql-transport-ws clients: in-process over ASGI, and over TCP to a uvicorn process."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws

from app.auth import service as auth
from app.auth.models import Role
from app.events.service import TOPIC
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Api, segment
from tests.live.support import PROTOCOL, SEGMENT_EVENTS, GraphQLWs, asgi_ws, subscribed
from tests.resilience.support import ROOT, Server

REVOKE = "mutation($id: ID!) { revokeApiKey(id: $id) { deletedId userErrors { code } } }"
VIEWER = "query { viewer { role } }"
IS_POSTGRES = TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))


async def _closed(ws: GraphQLWs, within: float) -> int:
    """The close code of a socket the server closes within the time (events may come first)."""
    deadline = time.monotonic() + within
    with pytest.raises(WebSocketDisconnect) as closed:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "the socket is still open"
            await ws.message(within=left)
    return int(closed.value.code)


async def test_revoking_a_key_closes_its_websockets_at_once(app: Any, api: Api) -> None:
    # given a reader key with a live subscription on a WebSocket
    reader = await api.with_role(Role.READER)
    viewer = await auth.authenticate(reader.key)
    assert viewer is not None
    await segment(api, "VIP")
    async with asgi_ws(app, count=2) as (ws, other):
        assert (await ws.init({"apiKey": reader.key}))["type"] == "connection_ack"
        assert (await other.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(SEGMENT_EVENTS)
        await other.subscribe(SEGMENT_EVENTS)
        await subscribed(TOPIC, api.site.id, 2)

        # when an admin revokes the key
        started = time.monotonic()
        data = await api.query(REVOKE, {"id": str(viewer.key_id)})
        assert data["revokeApiKey"]["userErrors"] == []

        # then its socket is closed with 4403 at once, and the key is refused over HTTP
        assert await _closed(ws, within=2) == 4403
        assert time.monotonic() - started < 2
        response = await reader.post(VIEWER)
        assert response.status_code == 401
        # while the admin's own session goes on
        await segment(api, "Next")
        assert (await other.event())["kind"] == "CREATED"


async def test_an_operation_on_a_session_of_a_revoked_key_is_refused(app: Any, api: Api) -> None:
    # given a signed-in session whose key this process has heard is revoked, before the
    # session could be closed
    reader = await api.with_role(Role.READER)
    viewer = await auth.authenticate(reader.key)
    assert viewer is not None
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": reader.key}))["type"] == "connection_ack"
        auth._revoked_ids.add(viewer.key_id)

        # when an operation comes on it
        await ws.subscribe(SEGMENT_EVENTS)

        # then it is refused as unauthenticated, and nothing runs
        message = await ws.message(within=5)
        assert message["type"] in ("next", "error"), message
        payload = message["payload"]
        errors = payload if message["type"] == "error" else payload["errors"]
        assert message["type"] == "error" or payload["data"] is None
        assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED"
        assert "revoked" in errors[0]["message"]


def _cli_revoke(slug: str, key_id: int) -> None:
    env = {**os.environ, "DATABASE_URL": TEST_DATABASE_URL}
    done = subprocess.run(
        [sys.executable, "-m", "app.cli", "keys", "revoke", str(key_id), "--site", slug],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


async def test_a_key_revoked_by_the_cli_closes_a_server_s_websockets(api: Api) -> None:
    # given a uvicorn process on the test database that trusts keys for 2 s (60 s on
    # PostgreSQL: there the revocation is heard at once, not found by a sweep)
    cache_seconds = 60 if IS_POSTGRES else 2
    server = Server({"DATABASE_URL": TEST_DATABASE_URL, "KEY_CACHE_SECONDS": str(cache_seconds)})
    reader = await api.with_role(Role.READER)
    viewer = await auth.authenticate(reader.key)
    assert viewer is not None
    try:
        await server.ready()
        async with (
            httpx.AsyncClient(base_url=server.url) as client,
            aconnect_ws("/graphql", client, subprotocols=[PROTOCOL]) as raw,
        ):
            # and a reader's session on it, with a subscription
            ws = GraphQLWs(raw)
            assert (await ws.init({"apiKey": reader.key}))["type"] == "connection_ack"
            await ws.subscribe(SEGMENT_EVENTS)
            await asyncio.sleep(0.3)
            headers = {"Authorization": f"Bearer {reader.key}"}
            viewer_query = {"query": VIEWER}
            assert (await client.post("/graphql", json=viewer_query, headers=headers)).is_success

            # when the key is revoked by the CLI, another process
            _cli_revoke(api.site.slug, viewer.key_id)
            revoked_at = time.monotonic()

            # then the server closes the session with 4403: at once on PostgreSQL, within
            # KEY_CACHE_SECONDS (and a sweep) on SQLite
            within = 2.0 if IS_POSTGRES else cache_seconds + 3.0
            assert await _closed(ws, within=within) == 4403
            assert time.monotonic() - revoked_at < within
            # and the key is refused over HTTP by then
            refused = await client.post("/graphql", json=viewer_query, headers=headers)
            assert refused.status_code == 401
    finally:
        server.stop()
