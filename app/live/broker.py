"""Live events: a small broker between the services that publish and the subscriptions.

A message is (topic, site, payload of ids). `publish` never sends before the change it tells
of is committed: on PostgreSQL it is a NOTIFY on the publisher's own transaction, which the
server delivers at COMMIT (and drops on ROLLBACK) to every process that LISTENs, this one
included; on SQLite it is handed to this process's subscribers once the transaction commits.
Each subscriber has a bounded queue: a full queue drops the message and counts it, the next
message it does get says how many were dropped before it, and the publisher never waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import conn, execute, is_postgres, is_postgres_url
from app.live.listener import CHANNEL, Listener
from app.metrics import LIVE_DROPPED

log = logging.getLogger("segments.live")

# NOTIFY refuses payloads of 8,000 bytes or more: messages carry ids, never rows
MAX_PAYLOAD_BYTES = 7900
DEFAULT_QUEUE_SIZE = 100


@dataclass(frozen=True)
class Message:
    topic: str
    site_id: int
    payload: dict[str, Any]
    # set per subscriber: how many messages its full queue dropped just before this one
    dropped_before: int = 0


@dataclass(eq=False)
class Subscription:
    """One subscriber's bounded queue of messages of one topic and site."""

    topic: str
    site_id: int
    maxsize: int
    where: Callable[[dict[str, Any]], bool] | None = None
    dropped: int = 0
    _queue: asyncio.Queue[Message] = field(init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.maxsize)

    def offer(self, message: Message) -> None:
        """Queue a message for this subscriber, or count it as dropped; never waits."""
        if self.where is not None and not self.where(message.payload):
            return
        try:
            self._queue.put_nowait(replace(message, dropped_before=self.dropped))
        except asyncio.QueueFull:
            self.dropped += 1
            LIVE_DROPPED.inc()
        else:
            self.dropped = 0

    async def batch(self) -> list[Message]:
        """The next message and every other one already queued, oldest first."""
        messages = [await self._queue.get()]
        while not self._queue.empty():
            messages.append(self._queue.get_nowait())
        return messages


class Broker:
    """One per process: subscribers by (topic, site), and on PostgreSQL the listener."""

    def __init__(self) -> None:
        self._subscribers: dict[tuple[str, int], set[Subscription]] = {}
        self.queue_size = DEFAULT_QUEUE_SIZE
        self._listener: Any = None
        self._users = 0
        # process-wide handlers of a topic, whatever the site (a revoked key, say)
        self._handlers: dict[str, list[Callable[[Message], None]]] = {}

    def on(self, topic: str, handler: Callable[[Message], None]) -> None:
        """Call handler (it must not wait) with every committed message of the topic."""
        self._handlers.setdefault(topic, []).append(handler)

    @contextlib.asynccontextmanager
    async def running(self, database_url: str, *, queue_size: int) -> AsyncIterator[None]:
        """Started with the app (the listener on PostgreSQL) and stopped with it; an app made
        twice in one process shares the broker, the last one out stops it."""
        self.queue_size = queue_size
        self._users += 1
        try:
            if self._users == 1 and is_postgres_url(database_url):
                self._listener = Listener(database_url, self.deliver_raw)
                await self._listener.start()
            yield
        finally:
            self._users -= 1
            if self._users == 0 and self._listener is not None:
                await self._listener.stop()
                self._listener = None

    @contextlib.contextmanager
    def subscribe(
        self,
        topic: str,
        *,
        site_id: int,
        where: Callable[[dict[str, Any]], bool] | None = None,
        maxsize: int | None = None,
    ) -> Iterator[Subscription]:
        """A subscription to one topic of one site for the block's duration; `where` keeps
        only the payloads it accepts (so drops are counted on what the subscriber wants)."""
        sub = Subscription(topic, site_id, maxsize or self.queue_size, where)
        key = (topic, site_id)
        self._subscribers.setdefault(key, set()).add(sub)
        try:
            yield sub
        finally:
            subs = self._subscribers.get(key)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subscribers[key]

    def total_subscribers(self) -> int:
        """Subscriptions open in this process, every topic and site."""
        return sum(len(subs) for subs in self._subscribers.values())

    def subscriber_count(self, topic: str, site_id: int) -> int:
        return len(self._subscribers.get((topic, site_id), ()))

    async def publish(
        self,
        *,
        topic: str,
        site_id: int,
        payload: dict[str, Any],
        connection: BaseDBAsyncClient | None = None,
    ) -> None:
        """Tell subscribers of (topic, site) once the caller's transaction commits (at once
        outside a transaction). The payload holds ids: subscribers re-read rows."""
        body = orjson.dumps({"t": topic, "s": site_id, "p": payload})
        if len(body) > MAX_PAYLOAD_BYTES:
            raise ValueError(f"live payload of {len(body)} bytes: send ids, not rows")
        c = conn(connection)
        if is_postgres(c):  # NOTIFY reaches other processes; SQLite has one process
            await execute("SELECT pg_notify($1, $2)", [CHANNEL, body.decode()], c)
        else:
            message = Message(topic, site_id, payload)
            _after_commit(c, lambda: self.deliver(message))

    def deliver(self, message: Message) -> None:
        """Hand a committed message to this process's subscribers; never waits."""
        for handler in self._handlers.get(message.topic, ()):
            handler(message)
        for sub in list(self._subscribers.get((message.topic, message.site_id), ())):
            sub.offer(message)

    def deliver_raw(self, body: str) -> None:
        """A NOTIFY payload, as `publish` encoded it."""
        try:
            data = orjson.loads(body)
            message = Message(str(data["t"]), int(data["s"]), dict(data["p"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignored a live message that is not ours: %.200s", body)
            return
        self.deliver(message)


def _after_commit(connection: BaseDBAsyncClient, callback: Callable[[], None]) -> None:
    """Run callback once the transaction connection belongs to commits; at once when it is not
    a transaction. On a rollback it never runs.

    Tortoise has no commit hooks, so the outermost transaction's commit is wrapped (on this
    one transaction object only)."""
    tx: Any = connection
    while hasattr(getattr(tx, "_parent", None), "_finalized"):  # a savepoint: its transaction
        tx = tx._parent
    if not hasattr(tx, "_finalized") or tx._finalized:
        callback()
        return
    hooks: list[Callable[[], None]] | None = tx.__dict__.get("_segments_after_commit")
    if hooks is None:
        hooks = []
        commit = tx.commit

        async def commit_then_tell() -> None:
            await commit()
            for hook in hooks:
                hook()

        tx.commit = commit_then_tell
        tx._segments_after_commit = hooks
    hooks.append(callback)


broker = Broker()
