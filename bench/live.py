"""Benchmark of live events across processes: a mutation on one server, its event heard by
a segmentEvents subscriber of another, beside a raw asyncpg NOTIFY/LISTEN baseline.

    python bench/live.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench_live]
                         [--events 200] [--subscribers 50]

On PostgreSQL only (on SQLite events stay in their process by design). The database is
created and migrated when missing; the script makes its own site, key and segment, and
deletes them at the end. Two uvicorn servers run as subprocesses on 127.0.0.1:

- service, event: one subscriber on server A; ``--events`` times in turn, ``updateSegment``
  is sent to server B and the clock runs from just before the request until the event
  arrives over A's WebSocket (the mutation's own round trip included);
- service, mutation only: the same ``updateSegment`` round trip, no event awaited: the
  part of the figure above that is the mutation itself;
- service, mutation with N subscribers: the same, while ``--subscribers`` WebSockets on
  server A (plus one on B) listen to the segment, each reading as it goes; every one of
  them must hear every event;
- raw NOTIFY -> LISTEN: two asyncpg connections; one ``BEGIN; UPDATE`` the segment's
  ``updated_at``; ``INSERT`` an audit row; ``NOTIFY``; ``COMMIT``, timed until the other
  connection, LISTENing, has the notification: what the database alone costs.

The table shows median and 95th percentile in milliseconds, and the ratio to the raw
baseline. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
from _common import (
    LOCAL_HOSTS,
    Server,
    asyncpg_dsn,
    format_table,
    is_postgres_url,
    ratio,
    start_server,
)
from httpx_ws import AsyncWebSocketSession, aconnect_ws

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/segments_bench_live"
SITE = "bench-live"
UPDATE = """
mutation($id: ID!, $d: String) { updateSegment(id: $id, input: {description: $d}) {
  userErrors { code } } }
"""
SUBSCRIBE = "subscription($id: ID) { segmentEvents(segmentId: $id) { id kind droppedBefore } }"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _prepare(database_url: str) -> tuple[str, str, int]:
    """A migrated database with our site, an ADMIN key and a segment: (key, segment id, site)."""
    from tortoise import Tortoise

    from app.auth.models import Role, Site
    from app.auth.service import create_key
    from app.db import create_postgres_database, migrate_database, tortoise_config
    from app.segments import service as segments

    await create_postgres_database(database_url)
    await migrate_database(database_url)
    await Tortoise.init(config=tortoise_config(database_url))
    try:
        await Site.filter(slug=SITE).delete()
        site = await Site.create(slug=SITE, name=SITE)
        _, secret = await create_key(site_id=site.id, name="bench-live", role=Role.ADMIN)
        segment = await segments.create(
            site_id=site.id, actor="bench", data=segments.SegmentData(name="live")
        )
        return secret, str(segment.id), site.id
    finally:
        await Tortoise.close_connections()


async def _cleanup(database_url: str) -> None:
    from tortoise import Tortoise

    from app.auth.models import Site
    from app.db import execute, tortoise_config

    await Tortoise.init(config=tortoise_config(database_url))
    try:
        site = await Site.filter(slug=SITE).first()
        if site is not None:
            await execute("DELETE FROM segment_events WHERE site_id = $1", [site.id])
            await site.delete()  # its keys and segments go with it
    finally:
        await Tortoise.close_connections()


@contextlib.asynccontextmanager
async def _subscriber(url: str, key: str, segment_id: str) -> AsyncIterator[AsyncWebSocketSession]:
    async with (
        httpx.AsyncClient(base_url=url) as client,
        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws,
    ):
        await ws.send_json({"type": "connection_init", "payload": {"apiKey": key}})
        assert (await ws.receive_json(timeout=10))["type"] == "connection_ack"
        await ws.send_json(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": SUBSCRIBE, "variables": {"id": segment_id}},
            }
        )
        yield ws


async def _event(ws: AsyncWebSocketSession, within: float = 10) -> dict[str, Any]:
    message: dict[str, Any] = await ws.receive_json(timeout=within)
    assert message["type"] == "next" and "errors" not in message["payload"], message
    event: dict[str, Any] = message["payload"]["data"]["segmentEvents"]
    return event


async def _drain(ws: AsyncWebSocketSession) -> None:
    with contextlib.suppress(TimeoutError):
        while True:
            await ws.receive_json(timeout=0.3)


async def _timed(n: int, call: Callable[[int], Awaitable[None]]) -> list[float]:
    times = []
    for i in range(n):
        started = time.perf_counter()
        await call(i)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def _service(
    a: Server,
    b: Server,
    key: str,
    segment_id: str,
    events: int,
    subscribers: int,
    notes: list[str],
) -> dict[str, list[float]]:
    headers = {"Authorization": f"Bearer {key}"}
    results: dict[str, list[float]] = {}
    async with httpx.AsyncClient(base_url=b.url, headers=headers) as http:

        async def mutate(i: int) -> None:
            response = await http.post(
                "/graphql", json={"query": UPDATE, "variables": {"id": segment_id, "d": str(i)}}
            )
            assert response.json()["data"]["updateSegment"]["userErrors"] == [], response.text

        await _timed(20, mutate)  # warm both servers' pools and caches
        results["service, mutation only"] = await _timed(events, mutate)

        async with _subscriber(a.url, key, segment_id) as ws:
            # the subscribe message is handled at the server's pace: wait until events come
            for i in range(100):
                await mutate(i)
                with contextlib.suppress(TimeoutError):
                    await _event(ws, within=0.2)
                    break
            await _drain(ws)

            async def mutate_and_hear(i: int) -> None:
                await mutate(i)
                await _event(ws)

            await _timed(20, mutate_and_hear)
            results["service, event on the other process"] = await _timed(events, mutate_and_hear)

        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(_subscriber(a.url, key, segment_id))
                for _ in range(subscribers)
            ]
            sockets.append(await stack.enter_async_context(_subscriber(b.url, key, segment_id)))
            await asyncio.sleep(1)
            # every subscriber reads as it goes, as a live client does
            readers = [asyncio.create_task(_count_events(ws, events)) for ws in sockets]
            label = f"service, mutation only, {len(sockets)} subscribers"
            results[label] = await _timed(events, mutate)
            counts = await asyncio.gather(*readers)
            # nothing lost silently: an event is heard, or counted in a later droppedBefore
            assert all(heard + dropped == events for heard, dropped in counts), counts
            notes.append(
                f"{len(sockets)} subscribers: each heard {min(h for h, _ in counts)} to"
                f" {max(h for h, _ in counts)} of {events} events,"
                f" {sum(d for _, d in counts)} told dropped in all"
            )
    return results


async def _count_events(ws: AsyncWebSocketSession, expected: int) -> tuple[int, int]:
    """Events heard and events told dropped, until they add up to `expected` (30 s at most)."""
    heard = dropped = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            while heard + dropped < expected:
                event = await _event(ws)
                heard += 1
                dropped += event["droppedBefore"]
    return heard, dropped


async def _raw(database_url: str, site_id: int, segment_id: str, events: int) -> list[float]:
    dsn = asyncpg_dsn(database_url)
    listener = await asyncpg.connect(dsn)
    writer = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener("bench_raw", lambda *args: heard.put_nowait(args[3]))
    try:

        async def notify(i: int) -> None:
            async with writer.transaction():
                await writer.execute(
                    "UPDATE segments SET updated_at = now() WHERE id = $1", int(segment_id)
                )
                event_id = await writer.fetchval(
                    "INSERT INTO segment_events"
                    " (site_id, segment_id, kind, actor, count, sample_ids, at)"
                    " VALUES ($1, $2, 'UPDATED', 'raw', 0, '[]', now()) RETURNING id",
                    site_id,
                    int(segment_id),
                )
                await writer.execute("SELECT pg_notify('bench_raw', $1)", str(event_id))
            await asyncio.wait_for(heard.get(), 10)

        await _timed(20, notify)
        return await _timed(events, notify)
    finally:
        await listener.close()
        await writer.close()


async def bench(args: argparse.Namespace) -> int:
    url = args.database_url
    if not is_postgres_url(url) or urlsplit(url).hostname not in LOCAL_HOSTS:
        print("bench/live.py needs PostgreSQL on 127.0.0.1", file=sys.stderr)
        return 2
    key, segment_id, site_id = await _prepare(url)
    a = start_server(url, env={"LOG_LEVEL": "WARNING"})
    b = start_server(url, env={"LOG_LEVEL": "WARNING"})
    try:
        notes: list[str] = []
        results = await _service(a, b, key, segment_id, args.events, args.subscribers, notes)
        raw = await _raw(url, site_id, segment_id, args.events)
    finally:
        a.stop()
        b.stop()
        await _cleanup(url)
    raw_median = statistics.median(raw)
    rows = [
        {
            "what": name,
            "median ms": statistics.median(times),
            "p95 ms": _percentile(times, 0.95),
            "x raw": ratio(statistics.median(times), raw_median),
        }
        for name, times in [*results.items(), ("raw NOTIFY -> LISTEN (asyncpg)", raw)]
    ]
    print(f"{args.events} events, 2 uvicorn processes, PostgreSQL {urlsplit(url).path[1:]}")
    print(format_table(rows))
    for note in notes:
        print(note)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--subscribers", type=int, default=50)
    try:
        return asyncio.run(bench(parser.parse_args(argv)))
    except BaseExceptionGroup as group:  # each WebSocket nests one: say what went wrong
        for leaf in _leaves(group):
            print(f"error: {leaf!r}", file=sys.stderr)
        return 1


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


if __name__ == "__main__":
    sys.exit(main())
