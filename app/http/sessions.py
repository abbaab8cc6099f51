"""Open WebSocket sessions by API key, so that revoking a key ends them.

A revoked key's sessions are closed (code 4403) and any operation still arriving on one is
refused: at once in the process that revokes, at once in the others on PostgreSQL (the
broker hears the revocation's NOTIFY), and otherwise within KEY_CACHE_SECONDS, by a sweep
that asks the database about the keys of the open sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref

from starlette.websockets import WebSocket, WebSocketState

from app.auth import service as auth
from app.live.broker import Message, broker

log = logging.getLogger("segments.live")

CLOSE_REVOKED = 4403


class Sessions:
    def __init__(self) -> None:
        self._by_key: dict[int, weakref.WeakSet[WebSocket]] = {}
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, key_id: int, websocket: WebSocket, *, check_every: float) -> None:
        """A session signed in with this key; swept every check_every seconds (0: never)."""
        self._by_key.setdefault(key_id, weakref.WeakSet()).add(websocket)
        if check_every > 0 and (self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.create_task(self._sweep(check_every), name="ws-key-sweep")

    def open_count(self, key_id: int) -> int:
        return sum(
            1
            for ws in self._by_key.get(key_id, ())
            if ws.application_state is WebSocketState.CONNECTED
        )

    async def revoke(self, key_id: int) -> None:
        """Close the key's sessions (auth.forget_key has made it refused already)."""
        for websocket in list(self._by_key.pop(key_id, ())):
            if websocket.application_state is WebSocketState.CONNECTED:
                with contextlib.suppress(Exception):  # it may be closing already
                    await websocket.close(code=CLOSE_REVOKED, reason="API key revoked")

    def heard(self, message: Message) -> None:
        """A revocation another process (or this one) published."""
        task = asyncio.get_running_loop().create_task(auth.forget_key(int(message.payload["id"])))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self, every: float) -> None:
        """While sessions are open: ask the database which of their keys are revoked."""
        while self._by_key:
            await asyncio.sleep(every)
            key_ids = [k for k, sockets in self._by_key.items() if sockets]
            for key_id in set(self._by_key) - set(key_ids):
                self._by_key.pop(key_id, None)
            if not key_ids:
                continue
            try:
                revoked = await auth.revoked_among(key_ids)
            except Exception as exc:  # the database may be down: sessions stay until it is back
                log.warning("key sweep: %.200r", exc)
                continue
            for key_id in revoked:
                await auth.forget_key(key_id)


sessions = Sessions()
auth.revocation_listeners.append(sessions.revoke)
broker.on(auth.KEY_REVOKED, sessions.heard)
