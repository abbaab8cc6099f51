"""What the app's background workers share: running one for the app's lifespan, sleeping
between polls until woken or until work falls due, and backing off after failures."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Protocol, TypeVar, cast


class Worker(Protocol):
    def start(self) -> None: ...

    async def stop(self) -> None: ...


class _Graceful(Protocol):
    async def stop(self, grace: float | None = None) -> None: ...


W = TypeVar("W", bound=Worker)


@contextlib.asynccontextmanager
async def started(worker: W | None, *, grace: float | None = None) -> AsyncIterator[W | None]:
    """``worker`` started for the body of the ``async with`` and stopped after it (given
    ``grace`` seconds to finish what it is doing, when its stop takes one); None when it is
    switched off."""
    if worker is None:
        yield None
        return
    worker.start()
    try:
        yield worker
    finally:
        if grace is None:
            await worker.stop()
        else:
            await cast(_Graceful, worker).stop(grace=grace)


async def woken(wake: asyncio.Event, seconds: float) -> None:
    """Wait until ``wake`` is set or ``seconds`` have passed (none when negative)."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(wake.wait(), max(seconds, 0.0))


def backoff_seconds(failures: int, base: float, cap: float) -> float:
    """How long to wait after ``failures`` failures in a row: ``base`` after the first,
    doubled after each next one, never more than ``cap``."""
    return min(base * 2.0 ** min(failures - 1, 30), cap)


def idle_seconds(due: datetime | None, now: datetime, poll: float) -> float:
    """How long an idle worker sleeps: until its next work falls ``due`` (at least a
    millisecond), never longer than ``poll`` (work may come without a wake-up)."""
    if due is None:
        return poll
    return min(max((due - now).total_seconds(), 0.001), poll)
