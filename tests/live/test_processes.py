"""Live events across server processes (PostgreSQL only: see conftest.py). Two uvicorn
processes on the test database: a subscriber on one hears a mutation served by the other;
then its listening connection is killed (pg_terminate_backend), it listens again, and the
next event still arrives."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from app.auth.models import Role
from app.auth.service import create_key, create_site
from app.db import fetch
from tests.live.support import SEGMENT_EVENTS, GraphQLWs, eventually, server_ws
from tests.processes import Server, graphql

UPDATE_SEGMENT = """
mutation($id: ID!, $description: String) {
  updateSegment(id: $id, input: {description: $description}) { userErrors { code } }
}
"""

NEWEST_EVENT = """
query($id: ID!) { segment(id: $id) { events(first: 1) { edges { node { id kind } } } } }
"""


@pytest.fixture
def servers(database: str, db: None) -> Iterator[tuple[Server, Server]]:
    first, second = Server(database), Server(database)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture
async def site_key(db: None) -> AsyncIterator[str]:
    site = await create_site(slug="acme", name="Acme")
    _, secret = await create_key(site_id=site.id, name="test-admin", role=Role.ADMIN)
    yield secret


async def _listener_pids(server: Server) -> list[int]:
    rows = await fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1", [server.listener_name]
    )
    return [int(r["pid"]) for r in rows]


async def _first_event(ws: GraphQLWs, server: Server, key: str, segment_id: str) -> Any:
    """Change the segment on `server` until the subscriber hears it: the subscribe message is
    handled by the other process at its own pace, so the first changes may come before it.
    The segment's CREATED, committed before the subscription, may still be on its way through
    NOTIFY (late on a loaded machine) and be heard first: it is passed over."""
    for attempt in range(50):
        await graphql(
            server, key, UPDATE_SEGMENT, {"id": segment_id, "description": f"probe {attempt}"}
        )
        try:
            while (event := await ws.event(within=0.5))["kind"] == "CREATED":
                continue
            return event
        except TimeoutError:
            continue
    raise AssertionError("the subscriber never heard the other process's changes")


async def _hear(ws: GraphQLWs, event_id: str) -> Any:
    """Read events (late probes may come first) until the one with that id."""
    async with asyncio.timeout(15):
        while True:
            event = await ws.event()
            assert int(event["id"]) <= int(event_id), f"{event} came, {event_id} never did"
            if event["id"] == event_id:
                return event


async def test_an_event_crosses_processes_and_survives_a_killed_listener(
    servers: tuple[Server, Server], site_key: str
) -> None:
    # given two server processes on the same database, and a segment made through the second
    subscriber_side, mutation_side = servers
    await asyncio.gather(subscriber_side.ready(), mutation_side.ready())
    created = await graphql(
        mutation_side,
        site_key,
        'mutation { createSegment(input: {name: "VIP"}) { segment { id } } }',
        {},
    )
    segment_id = created["createSegment"]["segment"]["id"]

    async with server_ws(subscriber_side.url) as ws:
        # when a client of the first process subscribes to the segment's events
        assert (await ws.init({"apiKey": site_key}))["type"] == "connection_ack"
        await ws.subscribe(SEGMENT_EVENTS, {"segmentId": segment_id})

        # then a change served by the second process reaches it
        event = await _first_event(ws, mutation_side, site_key, segment_id)
        assert (event["segmentId"], event["kind"], event["actor"]) == (
            segment_id,
            "UPDATED",
            "test-admin",
        )

        # when the first process's listening connection is killed
        [old_pid] = await _listener_pids(subscriber_side)
        killed = await fetch("SELECT pg_terminate_backend($1) AS done", [old_pid])
        assert killed[0]["done"] is True

        # then it listens again on a new connection
        async def relistening() -> bool:
            pids = await _listener_pids(subscriber_side)
            return len(pids) == 1 and pids[0] != old_pid

        await eventually(relistening, within=15)

        # and the next change served by the second process still reaches the subscriber
        await graphql(
            mutation_side, site_key, UPDATE_SEGMENT, {"id": segment_id, "description": "after"}
        )
        newest = await graphql(mutation_side, site_key, NEWEST_EVENT, {"id": segment_id})
        [edge] = newest["segment"]["events"]["edges"]
        heard = await _hear(ws, edge["node"]["id"])
        assert (heard["segmentId"], heard["kind"]) == (segment_id, "UPDATED")
