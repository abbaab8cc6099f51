"""The PostgreSQL side of the broker: one dedicated connection per process LISTENs on the
channel and hands every notification to the broker. When the connection drops (server
restart, network, pg_terminate_backend) it connects and LISTENs again, backing off up to a
few seconds; a ping every few seconds finds a connection that died without a word."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from typing import Any

import asyncpg

from app.db import asyncpg_dsn

log = logging.getLogger("segments.live")

PING_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 5.0

CHANNEL = "segments_live"  # the NOTIFY channel of every live event


def application_name(pid: int | None = None) -> str:
    """How the listening connection of a process shows in pg_stat_activity."""
    return f"segments-live-{os.getpid() if pid is None else pid}"


class Listener:
    def __init__(self, database_url: str, on_message: Callable[[str], None]) -> None:
        self._dsn = asyncpg_dsn(database_url, keep_options=False)
        self._on_message = on_message
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()
        self.connects = 0

    async def start(self, wait_seconds: float = 10.0) -> None:
        """Start listening; returns once the first LISTEN is in place, or after wait_seconds
        (the listener then keeps trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="segments-live-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.listening.wait(), wait_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _notified(self, connection: Any, pid: int, channel: str, payload: str) -> None:
        self._on_message(payload)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._listen_once()
                backoff = 0.1  # it did listen: the next drop starts the back-off again
                log.warning("live listener: connection lost; reconnecting")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # whatever it was, the listener must outlive it
                log.warning("live listener: %r; retrying in %.1fs", exc, backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
            await asyncio.sleep(backoff)

    async def _listen_once(self) -> None:
        """Connect, LISTEN, and return once the connection is gone."""
        connection = await asyncpg.connect(
            self._dsn, server_settings={"application_name": application_name()}
        )
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _c: lost.set())
            await connection.add_listener(CHANNEL, self._notified)
            self.connects += 1
            if self.connects > 1:
                log.warning("live listener: listening again (connection %d)", self.connects)
            self.listening.set()
            await self._watch(connection, lost)
        finally:
            self.listening.clear()
            if not connection.is_closed():
                connection.terminate()

    async def _watch(self, connection: Any, lost: asyncio.Event) -> None:
        """Returns when the connection is gone: closed by the server, or not answering a ping."""
        while not lost.is_set():
            try:
                await asyncio.wait_for(lost.wait(), PING_SECONDS)
            except TimeoutError:
                try:
                    await asyncio.wait_for(connection.fetchval("SELECT 1"), PING_SECONDS)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                    return
