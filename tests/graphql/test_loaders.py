"""A DataLoader's callers share one batch, but a caller cancelled (graphql-core cancels the
siblings of a field that failed) must not cancel the others waiting on the same key."""

from __future__ import annotations

import asyncio

from app.graphql.context import SharedLoader


async def test_cancelling_one_caller_leaves_the_others_their_value() -> None:
    calls: list[list[int]] = []

    async def load(keys: list[int]) -> list[str]:
        calls.append(keys)
        await asyncio.sleep(0.05)
        return [f"v{k}" for k in keys]

    loader: SharedLoader[int, str] = SharedLoader(load_fn=load)

    # given two fields waiting on the same key
    async def wait(key: int) -> str:
        return await loader.load(key)

    first = asyncio.create_task(wait(1))
    second = asyncio.create_task(wait(1))
    await asyncio.sleep(0.01)

    # when one of them is cancelled
    first.cancel()

    # then the other still gets the value, from the one batch
    assert await second == "v1"
    assert first.cancelled()
    assert calls == [[1]]
    # and a later caller gets it from the cache
    assert await loader.load(1) == "v1"
