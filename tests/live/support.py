"""A small graphql-transport-ws client over httpx-ws, for the app in-process (ASGI) or a
running server (HTTP), and waits that poll instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport

from app.live.broker import Message, broker

PROTOCOL = "graphql-transport-ws"
SEGMENT_EVENTS = """
subscription($segmentId: ID) {
  segmentEvents(segmentId: $segmentId) {
    id segmentId kind actor count sampleIds at droppedBefore
  }
}
"""


class GraphQLWs:
    """One graphql-transport-ws connection."""

    def __init__(self, ws: AsyncWebSocketSession) -> None:
        self.ws = ws

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        """connection_init; returns the server's answer (connection_ack when accepted)."""
        await self.ws.send_json({"type": "connection_init", "payload": payload or {}})
        answer: dict[str, Any] = await self.ws.receive_json(timeout=5)
        return answer

    async def subscribe(
        self, query: str, variables: dict[str, Any] | None = None, op: str = "1"
    ) -> None:
        await self.ws.send_json(
            {"id": op, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def message(self, within: float = 10) -> dict[str, Any]:
        """The next protocol message (next, error, complete), pings answered."""
        while True:
            message: dict[str, Any] = await self.ws.receive_json(timeout=within)
            if message["type"] == "ping":
                await self.ws.send_json({"type": "pong"})
                continue
            return message

    async def event(self, within: float = 10) -> dict[str, Any]:
        """The next segmentEvents payload; anything else fails the test."""
        message = await self.message(within)
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        event: dict[str, Any] = message["payload"]["data"]["segmentEvents"]
        return event

    async def nothing_within(self, seconds: float) -> bool:
        """True when no message comes within the time."""
        try:
            message = await self.ws.receive_json(timeout=seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"expected nothing, got {message}")


@contextlib.asynccontextmanager
async def asgi_ws(
    app: Any, headers: dict[str, str] | None = None, count: int = 1
) -> AsyncIterator[Any]:
    """A WebSocket to the app in-process, on the test's own event loop (a list of `count`
    of them when count > 1)."""
    async with (
        ASGIWebSocketTransport(app=app) as transport,
        httpx.AsyncClient(transport=transport, base_url="http://test") as client,
        contextlib.AsyncExitStack() as stack,
    ):
        sockets = [
            GraphQLWs(
                await stack.enter_async_context(
                    aconnect_ws("/graphql", client, subprotocols=[PROTOCOL], headers=headers or {})
                )
            )
            for _ in range(count)
        ]
        yield sockets[0] if count == 1 else sockets


@contextlib.asynccontextmanager
async def server_ws(base_url: str) -> AsyncIterator[GraphQLWs]:
    """A WebSocket to a running server."""
    async with (
        httpx.AsyncClient(base_url=base_url) as client,
        aconnect_ws("/graphql", client, subprotocols=[PROTOCOL]) as ws,
    ):
        yield GraphQLWs(ws)


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10) -> None:
    """Wait until check() is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        if await check():
            return
        assert time.monotonic() < deadline, f"still not so after {within}s"
        await asyncio.sleep(0.02)


# settled(): markers published, and told when each comes back through the broker
_SETTLED_TOPIC = "tests.settled"
_markers: dict[str, asyncio.Event] = {}


def _marker_back(message: Message) -> None:
    arrived = _markers.get(str(message.payload.get("marker")))
    if arrived is not None:
        arrived.set()


async def settled(site_id: int) -> None:
    """Wait until every live message committed so far has reached this process's broker, so
    that a subscription made next hears only what commits after it. On PostgreSQL messages
    come back through LISTEN a while after their commit (later still on a loaded machine),
    in commit order: a marker published now comes back after all of them. On SQLite a
    message is handed over at its commit, so the marker is back at once."""
    if _marker_back not in broker._handlers.get(_SETTLED_TOPIC, ()):
        broker.on(_SETTLED_TOPIC, _marker_back)
    marker = uuid.uuid4().hex
    arrived = _markers[marker] = asyncio.Event()
    try:
        await broker.publish(topic=_SETTLED_TOPIC, site_id=site_id, payload={"marker": marker})
        await asyncio.wait_for(arrived.wait(), 10)
    finally:
        del _markers[marker]


async def subscribed(topic: str, site_id: int, count: int = 1) -> None:
    """Wait until this process's broker has that many subscribers of the topic and site."""

    async def check() -> bool:
        return broker.subscriber_count(topic, site_id) >= count

    await eventually(check)
