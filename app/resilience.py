"""The outermost HTTP middleware: a deadline for every GraphQL request, and a database that
cannot be reached answered as 503 wherever it shows (the key lookup included).

A request still running after REQUEST_TIMEOUT_SECONDS is cancelled: the cancellation reaches
the statement it waits on, the transaction it is in is rolled back (Tortoise rolls back on
any exception, cancellation included), and the caller gets a 503 with the code TIMEOUT.
Uploads are not held to it (a large file may take longer to send; its size is bounded by
MAX_UPLOAD_BYTES), nor are streamed exports or WebSockets.
"""

from __future__ import annotations

import asyncio
import logging

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.asgi import WatchedSend
from app.db import is_outage
from app.graphql.errors import RETRY_AFTER_SECONDS, service_unavailable

log = logging.getLogger("segments.http")


def _error_response(status: int, message: str, code: str) -> tuple[Message, Message]:
    body = orjson.dumps({"errors": [{"message": message, "extensions": {"code": code}}]})
    start: Message = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(RETRY_AFTER_SECONDS).encode()),
        ],
    }
    return start, {"type": "http.response.body", "body": body}


def _has_deadline(scope: Scope) -> bool:
    if scope["path"] != "/graphql":
        return False
    for name, value in scope["headers"]:
        if name == b"content-type" and value.lower().startswith(b"multipart/"):
            return False
    return True


FRONT = "segments.front"  # scope key: app.http.front has already run this request's layers


async def timed_out(send: Send, path: str, timeout_seconds: float) -> None:
    """The answer of a request cancelled at its deadline (503 TIMEOUT)."""
    log.warning("request to %s cancelled after %ss", path, timeout_seconds)
    for message in _error_response(
        503,
        f"The request took longer than {timeout_seconds:g} s"
        " (REQUEST_TIMEOUT_SECONDS) and was cancelled; nothing it began was kept",
        "TIMEOUT",
    ):
        await send(message)


async def unavailable(send: Send, exc: BaseException) -> None:
    """The answer of a request that found the database unreachable (503)."""
    log.warning("database unavailable: %.500r", exc)
    outage = service_unavailable()
    for message in _error_response(503, str(outage), str(outage.extensions["code"])):
        await send(message)


class Resilience:
    """Deadline and outage handling for HTTP requests; everything else passes through."""

    def __init__(self, app: ASGIApp, timeout_seconds: float) -> None:
        self.app = app
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or FRONT in scope:
            await self.app(scope, receive, send)
            return
        tracked = WatchedSend(send)
        try:
            if self.timeout_seconds > 0 and _has_deadline(scope):
                async with asyncio.timeout(self.timeout_seconds) as deadline:
                    await self.app(scope, receive, tracked)
            else:
                deadline = None
                await self.app(scope, receive, tracked)
        except TimeoutError as exc:
            if deadline is None or not deadline.expired() or tracked.started:
                if not tracked.started and is_outage(exc):
                    await unavailable(send, exc)
                    return
                raise
            await timed_out(send, scope["path"], self.timeout_seconds)
        except Exception as exc:
            if tracked.started or not is_outage(exc):
                raise
            await unavailable(send, exc)
