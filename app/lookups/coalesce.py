"""Lookups of concurrent requests answered together: at most ``LIMIT`` statements of one kind
(one site's isMember, or one site's effective segments with the same extra columns) in
flight per process; a lookup asked while they are all out waits, and every lookup of its kind
waiting when one comes back is answered by the next statement, the members of all of them
asked at once.

Alone, a lookup runs at once, in its own task, with the statement it always had. Under load
(32 clients on a small machine), requests no longer each send a statement of one member to
PostgreSQL, 20 backends fighting for the cores: they queue in the process, in arrival order,
and a statement of a few dozen members answers them (PostgreSQL's cost a member is a fraction
of a statement's, and the process acquires a connection once for all of them). A waiting
request adds at most the time of the statement before it to its own. Kinds never wait for
each other: one site's lookups do not queue behind another's, nor isMember behind a large
membershipsOf.

A statement of a batch runs in a task of its own, so that a request cancelled (its deadline)
never cancels the others' answer; a cancelled waiter is simply not answered. An error of the
statement is every waiter's error, as it would have been each one's.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

# statements of one kind in flight at once, per process: the cores a small database server
# gives a process's lookups; more requests than this wait for the next statement
LIMIT = 2
MOST_IDS = 1000  # members in one statement of a batch (the lookups' own limit)

R = TypeVar("R")
# (kind, ids) -> the answer for all those ids (member ids, or what a kind asks about),
# shared by the requests of the batch
Run = Callable[[Hashable, list[Any]], Awaitable[R]]


@dataclass(slots=True)
class _Waiting(Generic[R]):
    ids: Sequence[Hashable]
    future: asyncio.Future[R]


@dataclass(slots=True)
class _Lane(Generic[R]):
    """One kind's statements in flight and lookups waiting."""

    running: int = 0
    waiting: deque[_Waiting[R]] = field(default_factory=deque)


@dataclass
class Coalescer(Generic[R]):
    """The lookups in flight and those waiting, of one event loop, kind by kind."""

    run: Run[R]
    limit: int = LIMIT
    most_ids: int = MOST_IDS
    statements: int = 0  # sent, alone or for a batch: what a test observes
    batched: int = 0  # requests answered by a batch's statement
    _lanes: dict[Hashable, _Lane[R]] = field(default_factory=dict)
    _loop: asyncio.AbstractEventLoop | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def running(self) -> int:
        return sum(lane.running for lane in self._lanes.values())

    async def ask(self, kind: Hashable, ids: Sequence[Hashable]) -> R:
        """The answer for ``ids``: of a statement of its own when one of its kind may be sent
        now, else of the next statement sent for its kind."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new loop (tests): nothing of the old one is alive
            self._loop, self._lanes = loop, {}
        lane = self._lanes.get(kind)
        if lane is None:
            lane = self._lanes[kind] = _Lane()
        if lane.running < self.limit and not lane.waiting:
            lane.running += 1
            self.statements += 1
            try:
                return await self.run(kind, list(ids))
            finally:
                lane.running -= 1
                self._next(kind, lane)
        waiting: _Waiting[R] = _Waiting(ids, loop.create_future())
        lane.waiting.append(waiting)
        if lane.running < self.limit:  # a slot free, others waiting: they go now, with it
            self._next(kind, lane)
        try:
            return await waiting.future
        except asyncio.CancelledError:
            if waiting.future.done() and not waiting.future.cancelled():
                waiting.future.exception()  # answered just before: retrieved, not logged
            raise

    def _next(self, kind: Hashable, lane: _Lane[R]) -> None:
        """Send the kind's next statement: every lookup of it waiting (up to ``most_ids``
        members; the others left in order). A kind with nothing out nor waiting is let go."""
        waiting = lane.waiting
        while waiting and waiting[0].future.done():  # cancelled while waiting
            waiting.popleft()
        if not waiting:
            if lane.running == 0 and self._lanes.get(kind) is lane:
                del self._lanes[kind]
            return
        if lane.running >= self.limit:
            return
        taken: list[_Waiting[R]] = []
        ids: dict[Hashable, None] = {}
        while waiting:
            entry = waiting[0]
            if entry.future.done():
                waiting.popleft()
                continue
            if taken and len(ids) + len(entry.ids) > self.most_ids:
                break
            taken.append(waiting.popleft())
            ids.update(dict.fromkeys(entry.ids))
        lane.running += 1
        self.statements += 1
        self.batched += len(taken)
        assert self._loop is not None
        task = self._loop.create_task(self._answer(kind, lane, list(ids), taken))
        self._tasks.add(task)  # kept until done: the loop holds tasks weakly
        task.add_done_callback(self._tasks.discard)

    async def _answer(
        self, kind: Hashable, lane: _Lane[R], ids: list[Hashable], taken: list[_Waiting[R]]
    ) -> None:
        try:
            found = await self.run(kind, ids)
        except BaseException as exc:
            for entry in taken:
                if not entry.future.done():
                    if isinstance(exc, asyncio.CancelledError):
                        entry.future.cancel()
                    else:
                        entry.future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
        else:
            for entry in taken:
                if not entry.future.done():
                    entry.future.set_result(found)
        finally:
            lane.running -= 1
            self._next(kind, lane)
