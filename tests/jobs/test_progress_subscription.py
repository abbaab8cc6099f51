"""importJobProgress over graphql-transport-ws: the state now, progress while the job runs,
the final state, then complete; another site's job is NOT_FOUND."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise.transactions import in_transaction

from app.db import fetch, is_postgres
from app.jobs import subscriptions
from app.jobs.worker import ImportWorker
from app.settings import get_settings
from tests.factories import Api
from tests.jobs.support import upload
from tests.live.support import asgi_ws, subscribed

PROGRESS = """
subscription($id: ID!) { importJobProgress(id: $id) { id status rowsRead created } }
"""


async def _states(ws: Any) -> list[dict[str, Any]]:
    """Every state the stream sends until it completes."""
    states = []
    while True:
        message = await ws.message(within=20)
        if message["type"] == "complete":
            return states
        assert message["type"] == "next" and "errors" not in message["payload"], message
        states.append(message["payload"]["data"]["importJobProgress"])


async def test_progress_then_the_final_state_then_complete(app: Any, api: Api) -> None:
    # given a pending import of five rows, run two rows a batch
    payload = await upload(api, "id\n" + "".join(f"u{i}\n" for i in range(5)), "CSV")
    job_id = payload["job"]["id"]
    async with asgi_ws(app) as ws:
        assert (await ws.init({"Authorization": f"Bearer {api.key}"}))["type"] == "connection_ack"
        # when its progress is subscribed to, and then the worker runs it
        await ws.subscribe(PROGRESS, {"id": job_id})
        await subscribed(subscriptions.TOPIC, api.site.id)
        settings = get_settings().model_copy(update={"import_batch_rows": 2})
        worker = ImportWorker(settings)
        worker.start()
        try:
            states = await _states(ws)
        finally:
            await worker.stop()
    # then the stream began with the pending job and ended with its final state
    assert states[0] == {"id": job_id, "status": "PENDING", "rowsRead": 0, "created": 0}
    assert states[-1] == {"id": job_id, "status": "SUCCEEDED", "rowsRead": 5, "created": 5}
    reads = [s["rowsRead"] for s in states]
    assert reads == sorted(reads)


@asynccontextmanager
async def _idle_job_subscriber(app: Any, api: Api) -> AsyncIterator[Any]:
    """A WebSocket subscribed to the progress of a pending job that no worker runs."""
    payload = await upload(api, "id\nu1\n", "CSV")
    async with asgi_ws(app) as ws:
        await ws.init({"Authorization": f"Bearer {api.key}"})
        await ws.subscribe(PROGRESS, {"id": payload["job"]["id"]})
        yield ws


async def test_a_job_that_does_not_move_still_reports_every_second(app: Any, api: Api) -> None:
    # given a subscriber to a pending job that no worker runs
    async with _idle_job_subscriber(app, api) as ws:
        # when nothing happens for a while
        first = await ws.message(within=5)
        started = asyncio.get_running_loop().time()
        second = await ws.message(within=5)
        waited = asyncio.get_running_loop().time() - started
    # then its state still comes, about once a second
    assert first["type"] == second["type"] == "next"
    assert second["payload"]["data"]["importJobProgress"]["status"] == "PENDING"
    assert 0.5 < waited < 3


# counts to 10^12 (days of work): on SQLite, a statement that keeps its one connection busy
LONG = (
    "WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 1000000000000)"
    " SELECT count(*) AS n FROM c"
)


@asynccontextmanager
async def _reads_wait() -> AsyncIterator[None]:
    """While the block runs, a read of an import job waits: on PostgreSQL behind a lock on
    the table another transaction holds, on SQLite behind a statement that runs for days on
    its one connection (as a large import's statements make it wait), stopped at the end."""
    if is_postgres():
        locked, release = asyncio.Event(), asyncio.Event()

        async def hold() -> None:
            async with in_transaction() as tx:
                await tx.execute_script("LOCK TABLE import_jobs IN ACCESS EXCLUSIVE MODE")
                locked.set()
                await release.wait()

        holder = asyncio.create_task(hold())
        await asyncio.wait_for(locked.wait(), 10)
        try:
            yield
        finally:
            release.set()
            await holder
    else:
        busy = asyncio.create_task(fetch(LONG))
        await asyncio.sleep(0.3)  # running in aiosqlite's thread
        try:
            yield
        finally:
            busy.cancel()  # interrupts the statement (app.db)
            await asyncio.wait([busy])


async def test_a_busy_database_does_not_hold_the_progress_up(app: Any, api: Api) -> None:
    # given a subscriber to a pending job that no worker runs, which heard its state
    async with _idle_job_subscriber(app, api) as ws:
        first = await ws.message(within=5)
        # when the job cannot be read again for a while
        async with _reads_wait():
            # then the subscriber still hears it, the state last read, about once a second
            late = [await ws.message(within=3), await ws.message(within=3)]
        # and the stream goes on once it can be read
        after = await ws.message(within=5)
    for message in (first, *late, after):
        assert message["type"] == "next", message
        assert message["payload"]["data"]["importJobProgress"]["status"] == "PENDING"


async def test_another_sites_job_is_not_found(app: Any, api: Api, other_api: Api) -> None:
    theirs = await upload(other_api, "id\nu1\n", "CSV")
    async with asgi_ws(app) as ws:
        await ws.init({"Authorization": f"Bearer {api.key}"})
        await ws.subscribe(PROGRESS, {"id": theirs["job"]["id"]})
        message = await ws.message(within=5)
    errors = message["payload"].get("errors") or []
    assert [e["extensions"]["code"] for e in errors] == ["NOT_FOUND"]
