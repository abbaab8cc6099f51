"""No document holds the event loop: a fragment fan-out (N fragments, each spreading the next
twice: 2^N paths for a naive walk) is refused within milliseconds, with or without a key, and
the server still answers everyone else and stops on SIGTERM within a few seconds, even with a
WebSocket subscription open."""

from __future__ import annotations

import asyncio
import time

import httpx
from httpx_ws import aconnect_ws

from app.auth.models import Role
from app.auth.service import create_key, create_site
from tests.conftest import TEST_DATABASE_URL
from tests.live.support import PROTOCOL, SEGMENT_EVENTS, GraphQLWs
from tests.resilience.support import Server


def fan_out(count: int) -> str:
    """A document of `count` fragments, each spreading the next one twice."""
    fragments = [f"fragment F{i} on Segment {{ ...F{i + 1} ...F{i + 1} }}" for i in range(count)]
    fragments.append(f"fragment F{count} on Segment {{ id name }}")
    return "query { segments { edges { node { ...F0 } } } }\n" + "\n".join(fragments)


async def test_a_fan_out_document_is_refused_at_once_and_sigterm_stops_the_server(
    db: None,
) -> None:
    site = await create_site(slug="acme")
    _, key = await create_key(site_id=site.id, name="admin", role=Role.ADMIN)
    server = Server({"DATABASE_URL": TEST_DATABASE_URL})
    try:
        await server.ready()
        async with (
            httpx.AsyncClient(base_url=server.url, timeout=30) as client,
            aconnect_ws("/graphql", client, subprotocols=[PROTOCOL]) as raw,
        ):
            ws = GraphQLWs(raw)
            assert (await ws.init({"apiKey": key}))["type"] == "connection_ack"
            await ws.subscribe(SEGMENT_EVENTS)
            document = {"query": fan_out(40)}
            for headers in ({}, {"Authorization": f"Bearer {key}"}):
                # when a fan-out document of 40 fragments is sent, with or without a key
                many = [client.post("/graphql", json=document, headers=headers) for _ in range(5)]
                started = time.monotonic()
                health = client.get("/healthz")
                answers = await asyncio.gather(health, *many)
                took = time.monotonic() - started

                # then each is refused with a code, and /healthz is answered meanwhile
                assert answers[0].status_code == 200
                assert took < 2, took
                for answer in answers[1:]:
                    assert answer.status_code != 500, answer.text[:300]
                    codes = {e["extensions"]["code"] for e in answer.json()["errors"]}
                    assert codes <= {"QUERY_TOO_COMPLEX", "UNAUTHENTICATED"}, answer.text
                    assert codes, answer.text

            # when the server is told to stop while a subscription is open
            took = server.terminate()

        # then it has stopped within a few seconds
        assert took < 5, took
        assert server.process.returncode is not None
    finally:
        server.stop()
