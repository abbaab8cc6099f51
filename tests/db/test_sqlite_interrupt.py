"""A statement whose caller is cancelled (as the request deadline cancels a request) stops on
SQLite too: the connection is free for the next statement at once, instead of aiosqlite's
thread running the statement to its end while every later one waits behind it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator

import pytest
from tortoise.transactions import in_transaction

from app.auth.models import Site
from app.auth.service import create_site
from app.db import conn, fetch

# far longer than any test run: a statement still running it would make the next one wait
GENEROUS_SECONDS = 30
# counts to 10^12 (days of work), after calling test_begun() once at its start
LONG = (
    "WITH RECURSIVE c(n) AS (SELECT test_begun() UNION ALL SELECT n + 1 FROM c"
    " WHERE n < 1000000000000) SELECT count(*) AS n FROM c"
)


@pytest.fixture
async def begun(db: None) -> AsyncIterator[asyncio.Event]:
    """Set when a statement calls test_begun(): it is running in aiosqlite's thread."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()

    def test_begun() -> int:
        loop.call_soon_threadsafe(event.set)
        return 1

    client = conn()
    await client._connection.create_function("test_begun", 0, test_begun)
    try:
        yield event
    finally:
        # without the interruption, stop the statement here rather than leave it running
        client._connection._conn.interrupt()


async def _cancel_when_begun(task: asyncio.Task[object], begun: asyncio.Event) -> None:
    await asyncio.wait_for(begun.wait(), GENEROUS_SECONDS)
    assert not task.done()
    task.cancel()
    # the cancelled caller returns once its statement has stopped (and, in a transaction,
    # once the transaction is rolled back)
    await asyncio.wait([task], timeout=GENEROUS_SECONDS)
    assert task.cancelled()


async def test_a_cancelled_statement_stops_and_the_next_answers(begun: asyncio.Event) -> None:
    # given a statement that would run for days, running
    task = asyncio.create_task(fetch(LONG))

    # when its caller is cancelled
    await _cancel_when_begun(task, begun)

    # then the next statement on the connection answers (long before the first would end)
    rows = await asyncio.wait_for(fetch("SELECT 42 AS n"), GENEROUS_SECONDS)
    assert rows == [{"n": 42}]


async def test_a_cancelled_transaction_is_rolled_back_and_the_next_one_runs(
    begun: asyncio.Event,
) -> None:
    # given a transaction that made a site, then runs a statement that would run for days
    async def long_transaction() -> None:
        async with in_transaction() as tx:
            await create_site(slug="never-kept")
            await fetch(LONG, [], tx)

    task = asyncio.create_task(long_transaction())

    # when its caller is cancelled
    await _cancel_when_begun(task, begun)

    # then nothing it did is kept, and the next transaction runs and commits at once
    async def next_transaction() -> list[str]:
        async with in_transaction():
            await create_site(slug="kept")
        return [str(s) for s in await Site.all().order_by("slug").values_list("slug", flat=True)]

    assert await asyncio.wait_for(next_transaction(), GENEROUS_SECONDS) == ["kept"]


async def test_a_transaction_cancelled_while_it_opens_gives_the_connection_back(
    begun: asyncio.Event,
) -> None:
    # given a statement that would run for days, holding aiosqlite's thread but not the
    # connection's lock (run on aiosqlite's connection itself, as no service does)
    long = asyncio.create_task(conn()._connection.execute(LONG))
    await asyncio.wait_for(begun.wait(), GENEROUS_SECONDS)

    # and a transaction that has taken the connection's lock and waits for its BEGIN
    async def opened_too_late() -> None:
        async with in_transaction():
            await create_site(slug="never-begun")

    opening = asyncio.create_task(opened_too_late())
    await asyncio.sleep(0.05)
    assert conn()._lock.locked() and not opening.done()

    # when the transaction's caller is cancelled there, then the long statement's
    opening.cancel()
    await asyncio.wait([opening], timeout=GENEROUS_SECONDS)
    assert opening.cancelled()
    await _cancel_when_begun(long, begun)

    # then the next transaction runs and commits at once (it waited forever for the lock),
    # outside any transaction the cancelled one's BEGIN would have left open
    async def next_transaction() -> bool:
        async with in_transaction():
            await create_site(slug="kept")
        return bool(conn()._connection.in_transaction)

    assert await asyncio.wait_for(next_transaction(), GENEROUS_SECONDS) is False
    slugs = await Site.all().order_by("slug").values_list("slug", flat=True)
    assert [str(s) for s in slugs] == ["kept"]


async def test_a_statement_cancelled_before_it_began_leaves_no_error_unretrieved(
    begun: asyncio.Event,
) -> None:
    # given a statement that would run for days, running, and another queued behind it
    loop = asyncio.get_running_loop()
    unretrieved: list[dict[str, object]] = []
    handler = loop.get_exception_handler()
    loop.set_exception_handler(lambda _, context: unretrieved.append(context))
    try:
        long = asyncio.create_task(fetch(LONG))
        await asyncio.wait_for(begun.wait(), GENEROUS_SECONDS)
        queued = asyncio.create_task(fetch("SELECT 1 AS n"))
        await asyncio.sleep(0.05)

        # when the queued one's caller is cancelled before it began, then the long one's
        queued.cancel()
        await asyncio.wait([queued], timeout=GENEROUS_SECONDS)
        assert queued.cancelled()
        await _cancel_when_begun(long, begun)
        assert await asyncio.wait_for(fetch("SELECT 42 AS n"), GENEROUS_SECONDS) == [{"n": 42}]

        # then the queued call's end ("interrupted before it began", raised in aiosqlite's
        # thread) is not left in a future nobody awaits: asyncio would log it when the future
        # is collected, "Future exception was never retrieved", an ERROR with a traceback
        del long, queued
        gc.collect()
        await asyncio.sleep(0)
        assert [(c.get("message"), repr(c.get("exception"))) for c in unretrieved] == []
    finally:
        loop.set_exception_handler(handler)
