"""A worker stopping (a server shutting down) finishes the sends it has in hand, the one its
loop spawned as it was told to stop included, before the database is closed behind it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.webhooks import queue
from tests.factories import Api, segment
from tests.webhooks.conftest import Receiver, Workers, create, record, until


async def test_a_send_claimed_as_the_worker_stops_is_finished_before_stop_returns(
    hooks: Api, receiver: Receiver, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a webhook with a change to send, and a worker whose claim is in hand when it is
    # told to stop (the claim is the real one, held until stop has begun)
    seg = await segment(hooks, "Gold")
    await create(hooks, url=receiver.url)
    await record(hooks.site.id, seg["id"], ["m-1"])
    claimed, stopping = asyncio.Event(), asyncio.Event()
    real_claim = queue.claim

    async def claim(*args: Any, **kwargs: Any) -> Any:
        found = await real_claim(*args, **kwargs)
        if found is not None:
            claimed.set()
            await stopping.wait()
        return found

    monkeypatch.setattr(queue, "claim", claim)
    receiver.hold = asyncio.Event()  # the receiver answers when the test says
    worker = workers()
    await until(claimed.is_set, what="a claim")

    # when the worker is stopped while that claim is in hand
    stop = asyncio.create_task(worker.stop(grace=10))
    await asyncio.sleep(0)  # stop has begun
    stopping.set()
    await until(lambda: receiver.received, what="the send")
    assert not stop.done(), "stop returned while a send was in hand"
    receiver.hold.set()
    await stop

    # then the send was finished (settled) before stop returned
    assert worker._sends == set()
    assert len(receiver.received) == 1
