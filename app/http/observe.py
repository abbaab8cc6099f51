"""The outermost HTTP layer: the request id (``request_id``), then, once the request is over,
its metrics (``metrics``) and its access line (``access_log``).

One pure ASGI layer for the three: each layer costs a call and a wrapped ``send`` per request
whatever it does (as three middlewares they cost ~20 µs more of a planned lookup's ~90 µs
in-process, its statement stubbed).
"""

from __future__ import annotations

import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.http import access_log, metrics, request_id, state
from app.resilience import FRONT


class Observed:
    """Request id, metrics and access line of every HTTP request; a WebSocket gets its id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" or FRONT in scope:  # (app.http.front observes it)
            if kind == "websocket":
                request_id.begin(scope)
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        echoed = request_id.begin(scope).encode("latin-1")
        info = state.begin()
        status = 0  # until the answer starts

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (request_id.RAW_HEADER, echoed)]
            await send(message)

        raised = False
        try:
            await self.app(scope, receive, observed)
        except ClientDisconnect:
            # the client hung up while its body was read: nobody to answer, nothing to raise
            # to the server (a traceback in its log)
            status = status or access_log.CLIENT_CLOSED
        except BaseException:
            raised = True
            raise
        finally:
            seconds = time.perf_counter() - started
            # an answer never started is a server error to the metrics; to the log, it is one
            # only when it raised (0 otherwise: the request ended without an answer)
            metrics.count(scope["path"], status or 500, info, seconds)
            access_log.write(scope, status or (500 if raised else 0), seconds, info)
