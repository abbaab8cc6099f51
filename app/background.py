"""What the app's background workers share: running one for the app's lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Protocol, TypeVar


class Worker(Protocol):
    def start(self) -> None: ...

    async def stop(self, grace: float | None = None) -> None: ...


W = TypeVar("W", bound=Worker)


@contextlib.asynccontextmanager
async def started(worker: W | None, *, grace: float | None = None) -> AsyncIterator[W | None]:
    """``worker`` started for the body of the ``async with`` and stopped after it (given
    ``grace`` seconds to finish what it is doing); None when it is switched off."""
    if worker is None:
        yield None
        return
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(grace=grace)
