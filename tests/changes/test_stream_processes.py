"""membershipChanges across processes (PostgreSQL only: see conftest.py): a subscriber on one
uvicorn process, through a real WebSocket client, hears the changes committed by a second
process and by this one, each once and in commit order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from app.auth.models import Role
from app.auth.service import create_key, create_site
from tests.changes.records import changes, record
from tests.live.support import server_ws
from tests.processes import Server, graphql

STREAM = "subscription { membershipChanges { id segmentId memberId kind cause } }"
MEMBERS = 'mutation { upsertMembers(members: [{id: "u1"}, {id: "u2"}]) { created } }'
SEGMENT = 'mutation { createSegment(input: {name: "VIP"}) { segment { id } } }'
ADD = """
mutation($id: ID!, $ids: [ID!]!) {
  updateSegmentMembers(input: {segmentId: $id, memberIds: $ids, mode: ADD}) { added }
}
"""


@pytest.fixture
def two_servers(database: str, db: None) -> Iterator[tuple[Server, Server]]:
    first, second = Server(database), Server(database)
    try:
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_changes_written_anywhere_reach_a_subscriber_of_another_process(
    two_servers: tuple[Server, Server],
) -> None:
    subscriber_side, other = two_servers
    site = await create_site(slug="acme", name="Acme")
    _, key = await create_key(site_id=site.id, name="admin", role=Role.ADMIN)
    await asyncio.gather(subscriber_side.ready(), other.ready())

    async with server_ws(subscriber_side.url) as ws:
        assert (await ws.init({"apiKey": key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM)

        # the subscribe message is handled at the server's pace: probe until it is heard
        heard: list[dict[str, Any]] = []
        for attempt in range(50):
            await record(site.id, changes(7, [f"probe-{attempt}"]))
            try:
                message = await ws.message(within=0.5)
            except TimeoutError:
                continue
            heard.append(message["payload"]["data"]["membershipChanges"])
            break
        assert heard, "the subscriber never heard a change"

        # when changes commit in this process (not the subscriber's), in three commits
        await record(site.id, changes(8, ["a", "b"]))
        await record(site.id, changes(9, ["c"]))

        # then the other process streams them once each, in commit order
        got = []
        while len(got) < 3:
            message = await ws.message(within=10)
            assert message["type"] == "next", message
            change = message["payload"]["data"]["membershipChanges"]
            if change["memberId"].startswith("probe-"):
                continue  # a late probe
            got.append(change)
        assert [(c["segmentId"], c["memberId"]) for c in got] == [
            ("8", "a"),
            ("8", "b"),
            ("9", "c"),
        ]
        assert [int(c["id"]) for c in got] == sorted(int(c["id"]) for c in got)

        # and a mutation served by the second process is streamed by the first
        await graphql(other, key, MEMBERS, {})
        created = await graphql(other, key, SEGMENT, {})
        segment_id = created["createSegment"]["segment"]["id"]
        await graphql(other, key, ADD, {"id": segment_id, "ids": ["u1", "u2"]})
        listed = [(await ws.message(within=10))["payload"]["data"]["membershipChanges"]]
        listed.append((await ws.message(within=10))["payload"]["data"]["membershipChanges"])
        assert [(c["segmentId"], c["memberId"], c["kind"], c["cause"]) for c in listed] == [
            (segment_id, "u1", "ENTERED", "LISTED"),
            (segment_id, "u2", "ENTERED", "LISTED"),
        ]
        assert await ws.nothing_within(0.3)
