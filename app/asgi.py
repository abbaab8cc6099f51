"""What ASGI middleware shares: a send that notes whether the answer has begun."""

from __future__ import annotations

from starlette.types import Message, Send


class WatchedSend:
    """``send``, noting whether the response has started: until it has, a middleware may
    still answer an error itself; after, the error is the server's."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)
