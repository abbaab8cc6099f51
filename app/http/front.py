"""The front of a planned GraphQL POST: every layer it needs, in one ASGI call.

A POST to /graphql with a JSON body of a declared length within MAX_REQUEST_BYTES and an
Authorization header (and, when CORS is configured, no Origin) is what servers repeat thousands of
times: for it this layer does, in this order, what the layers behind it would do one call
and one wrapped ``send`` each (``observe``: request id, metrics, access line; ``resilience``:
the deadline and the 503 of an outage; ``auth``: the key, 401; ``compression``; the GraphQL
layer's plan, ``GraphQLApp.planned``) and answers. A request whose document has no plan goes
on through the whole stack with the body replayed and the scope marked (``FRONT``): the
layers already run here pass it through, and the GraphQL layer does not try the plan again.
Every other request goes through the stack untouched.
"""

from __future__ import annotations

import asyncio
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import is_outage
from app.http import access_log, compression, metrics, request_id, state
from app.http.auth import AuthAndLimits, signed_in
from app.http.graphql import GraphQLApp, negotiate
from app.resilience import FRONT, timed_out, unavailable
from app.settings import Settings

_JSON = b"application/json"
_ANSWER = "segments.answer"  # scope key: the planned answer's messages, for _answered


async def _answered(scope: Scope, receive: Receive, send: Send) -> None:
    for message in scope[_ANSWER]:
        await send(message)


class _Sent:
    """``send`` with the request id echoed, noting the answer's status (0 until it starts)."""

    __slots__ = ("_echoed", "_send", "status")

    def __init__(self, send: Send, echoed: bytes) -> None:
        self._send = send
        self._echoed = echoed
        self.status = 0

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            message["headers"] = [
                *message.get("headers", ()),
                (request_id.RAW_HEADER, self._echoed),
            ]
        await self._send(message)


class Front:
    """The planned GraphQL POST in one layer; everything else passes to the stack behind."""

    def __init__(
        self, app: ASGIApp, *, graphql: GraphQLApp, settings: Settings, cors: bool = False
    ) -> None:
        self.app = app
        self.graphql = graphql
        self.settings = settings
        self.cors = cors
        self.timeout_seconds = settings.request_timeout_seconds
        self.limit = settings.max_request_bytes
        self.compress_min_bytes = settings.compress_min_bytes
        self._compress = compression.compressor(_answered, settings.compress_min_bytes)
        self._auth = AuthAndLimits(app, settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or scope["path"] != "/graphql"
            or self.graphql.plans is None
        ):
            await self.app(scope, receive, send)
            return
        content_type = length = authorization = accept = None
        other = False  # a header read twice, or an Origin CORS answers
        for name, value in scope["headers"]:
            if name == b"content-type":
                other = other or content_type is not None
                content_type = value
            elif name == b"content-length":
                other = other or length is not None
                length = value
            elif name == b"authorization":
                other = other or authorization is not None
                authorization = value
            elif name == b"accept":
                other = other or accept is not None
                accept = value
            elif name == b"origin":
                other = other or self.cors
        if (
            other
            or not authorization  # none, or empty: AuthAndLimits lets it in without a key
            or content_type is None
            or not content_type.startswith(_JSON)
            or length is None
            or not length.isdigit()
            or int(length) > self.limit
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        echoed = request_id.begin(scope).encode("latin-1")
        info = state.begin()
        scope[FRONT] = True
        sent = _Sent(send, echoed)
        raised = closed = False
        try:
            await self._guarded(scope, receive, sent, authorization, accept)
        except ClientDisconnect:  # hung up while its body was read: nobody to answer
            closed = True
        except BaseException:
            raised = True
            raise
        finally:
            seconds = time.perf_counter() - started
            status = sent.status or (access_log.CLIENT_CLOSED if closed else 0)
            metrics.count("/graphql", status or 500, info, seconds)
            access_log.write(scope, status or (500 if raised else 0), seconds, info)

    async def _guarded(
        self,
        scope: Scope,
        receive: Receive,
        sent: _Sent,
        authorization: bytes,
        accept: bytes | None,
    ) -> None:
        """app.resilience's deadline and outage answers around the request."""
        deadline = None
        try:
            if self.timeout_seconds > 0:
                async with asyncio.timeout(self.timeout_seconds) as deadline:
                    await self._serve(scope, receive, sent, authorization, accept)
            else:
                await self._serve(scope, receive, sent, authorization, accept)
        except TimeoutError as exc:
            started = sent.status != 0
            if deadline is None or not deadline.expired() or started:
                if not started and is_outage(exc):
                    await unavailable(sent, exc)
                    return
                raise
            await timed_out(sent, scope["path"], self.timeout_seconds)
        except Exception as exc:
            if sent.status != 0 or not is_outage(exc):
                raise
            await unavailable(sent, exc)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        authorization: bytes,
        accept: bytes | None,
    ) -> None:
        viewer = await self._auth.viewer(authorization.decode("latin-1"))
        if viewer is None:
            await self._auth.refuse(
                scope, receive, send, "Invalid or revoked API key", "UNAUTHENTICATED", 401
            )
            return
        signed_in(scope, viewer)
        media = negotiate(accept.decode("latin-1") if accept is not None else None)
        answer, receive = await self.graphql.planned(scope, receive, media)
        if answer is None:  # the executor answers, behind the layers this one stands for
            await self.app(scope, receive, send)
            return
        if len(answer[1]["body"]) < self.compress_min_bytes:
            start, body = answer
            await send(start)
            await send(body)
            return
        scope[_ANSWER] = answer
        await self._compress(scope, receive, send)
