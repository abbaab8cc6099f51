"""The Starlette app: routes, middleware and lifespan."""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UNSET, UnsetType
from tortoise.contrib.starlette import RegisterTortoise

from app.auth.service import Viewer, authenticate
from app.db import fetch, tortoise_config
from app.email import worker as email_worker
from app.exports.routes import segment_members_csv
from app.graphql.context import Context
from app.graphql.schema import build_schema
from app.jobs.worker import running_worker
from app.live.broker import broker
from app.live.websocket import TextWebSocket, sign_in
from app.lookups import fast
from app.resilience import Resilience
from app.settings import Settings, get_settings

log = logging.getLogger("segments.http")


def _graphql_error(message: str, code: str, status: int) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": code}}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


class GraphQLApp(GraphQL[Context, None]):
    websocket_adapter_class = TextWebSocket

    def __init__(self, settings: Settings) -> None:
        origins = [o.strip() for o in settings.ws_allowed_origins.split(",") if o.strip()]
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            multipart_uploads_enabled=True,
            allowed_origins=origins,
        )
        self.settings = settings

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        await sign_in(context, cache_seconds=self.settings.key_cache_seconds)
        ack: UnsetType = UNSET  # no payload in connection_ack
        return ack

    def encode_json(self, data: object) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:  # a lone surrogate quoted in a message: JSON can escape it
            return json.dumps(data, default=str).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if _is_json_post(scope):
            messages = await _read_body(receive, self.settings.max_request_bytes)
            if messages is not None and await _fast_answer(scope, messages, send):
                return
            receive = _replay(messages or [], receive)
        # strawberry's own HTTP handling, but the request is closed after the response, so
        # that uploaded files are deleted whatever became of the operation
        request = Request(scope=scope, receive=receive)
        try:
            try:
                response = await self.run(request)
            except HTTPException as e:
                response = PlainTextResponse(e.reason, status_code=e.status_code)
            await response(scope, receive, send)
        finally:
            await request.close()

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        viewer: Viewer | None = request.scope.get("state", {}).get("viewer")
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            viewer=viewer,
            settings=self.settings,
        )


async def _read_body(receive: Receive, limit: int) -> list[Message] | None:
    """The messages of the whole request body, or None once it is over the limit."""
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away: pass that on too
            return messages
        size += len(message.get("body", b""))
        if size > limit:
            return None
        if not message.get("more_body", False):
            return messages


class _BodyTooLarge(Exception):
    """A body sent without a length went over its limit while it was being read."""


def _limited(receive: Receive, limit: int) -> Receive:
    """A receive that passes the body on as it comes, raising _BodyTooLarge past the limit."""
    size = 0

    async def limited() -> Message:
        nonlocal size
        message = await receive()
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise _BodyTooLarge
        return message

    return limited


def _is_upload(scope: Scope, headers: dict[str, str]) -> bool:
    """A GraphQL multipart request (a file upload): streamed, with the upload size limit."""
    content_type = headers.get("content-type", "").lower()
    return scope["path"] == "/graphql" and content_type.startswith("multipart/form-data")


def _is_json_post(scope: Scope) -> bool:
    if scope["method"] != "POST" or scope.get("state", {}).get("viewer") is None:
        return False
    return any(
        name == b"content-type" and value.startswith(b"application/json")
        for name, value in scope["headers"]
    )


async def _fast_answer(scope: Scope, messages: list[Message], send: Send) -> bool:
    """Answer a document the compiled isMember path takes, before any of the executor's
    per-request work; False (nothing sent) for every other request."""
    body = b"".join(m.get("body", b"") for m in messages)
    try:
        request = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    if not isinstance(request, dict) or not isinstance(request.get("query"), str):
        return False
    variables = request.get("variables")
    name = request.get("operationName")
    if variables is not None and not isinstance(variables, dict):
        return False
    viewer: Viewer = scope["state"]["viewer"]
    data = await fast.answer(
        request["query"], variables, name if isinstance(name, str) else None, viewer.site_id
    )
    if data is None:
        return False
    response = Response(orjson.dumps({"data": data}), media_type="application/json")
    await response(scope, _no_receive, send)
    return True


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then passes on to the real one."""
    pending = list(messages)

    async def replay() -> Message:
        return pending.pop(0) if pending else await receive()

    return replay


# request ids: a random prefix per process and a counter, unique without a syscall per request
_ID_PREFIX = secrets.token_hex(3)
_ids = itertools.count(1)


class AuthAndLimits:
    """Bearer key to viewer, request size limit, and one JSON log line per request."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = f"{_ID_PREFIX}{next(_ids):06x}"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length")
        upload = _is_upload(scope, headers)
        limit = self.settings.max_upload_bytes if upload else self.settings.max_request_bytes
        what = "Upload" if upload else "Request body"
        if length and length.isdigit() and int(length) > limit:
            response = _graphql_error(
                f"{what} of {length} bytes is over the limit of {limit} bytes", "TOO_LARGE", 413
            )
            await response(scope, receive, send)
            return
        if length is None and upload:
            # an upload is never held in memory: counted as it streams to disk, stopped at the limit
            receive = _limited(receive, limit)
        elif length is None:
            # a chunked body declares no length: read it here, so that it too stops at the limit
            messages = await _read_body(receive, limit)
            if messages is None:
                response = _graphql_error(
                    f"Request body is over the limit of {limit} bytes", "TOO_LARGE", 413
                )
                await response(scope, receive, send)
                return
            receive = _replay(messages, receive)
        auth = headers.get("authorization", "")
        if auth:
            scheme, _, secret = auth.partition(" ")
            viewer = None
            if scheme.lower() == "bearer" and secret.strip():
                viewer = await authenticate(
                    secret.strip(), cache_seconds=self.settings.key_cache_seconds
                )
            if viewer is None:
                response = _graphql_error("Invalid or revoked API key", "UNAUTHENTICATED", 401)
                await response(scope, receive, send)
                return
            scope.setdefault("state", {})["viewer"] = viewer
        elif upload:  # nothing is read, let alone stored, for a caller we do not know
            await _graphql_error("Uploads need an API key", "UNAUTHENTICATED", 401)(
                scope, receive, send
            )
            return
        status = {"code": 0}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except _BodyTooLarge:
            if status["code"]:
                raise
            response = _graphql_error(
                f"{what} is over the limit of {limit} bytes", "TOO_LARGE", 413
            )
            await response(scope, receive, send_wrapper)
        finally:
            log.info(
                orjson.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status["code"],
                        "ms": round((time.perf_counter() - started) * 1000, 2),
                    }
                ).decode()
            )

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A key in the handshake's Authorization header signs the connection in; a bad one
        refuses the handshake. With none, connection_init must carry one (app.live.websocket)."""
        for name, value in scope["headers"]:
            if name.lower() != b"authorization":
                continue
            scheme, _, secret = value.decode("latin-1").partition(" ")
            viewer = None
            if scheme.lower() == "bearer" and secret.strip():
                viewer = await authenticate(
                    secret.strip(), cache_seconds=self.settings.key_cache_seconds
                )
            if viewer is None:
                await send({"type": "websocket.close", "code": 4403, "reason": "Invalid API key"})
                return
            scope.setdefault("state", {})["viewer"] = viewer
        await self.app(scope, receive, send)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    try:
        await fetch("SELECT 1 AS ok")
    except Exception as exc:  # the database is what readiness is about
        return JSONResponse({"ready": False, "error": str(exc)}, status_code=503)
    return JSONResponse({"ready": True})


def create_app(settings: Settings | None = None, *, init_orm: bool = True) -> Starlette:
    """The app; init_orm=False when the caller (tests) has opened the database already."""
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(message)s")
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    graphql = GraphQLApp(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if init_orm:
                config = tortoise_config(settings.database_url)
                await stack.enter_async_context(RegisterTortoise(app, config=config))
            await stack.enter_async_context(
                broker.running(settings.database_url, queue_size=settings.live_queue_size)
            )
            app.state.email_worker = await stack.enter_async_context(email_worker.running(settings))
            await stack.enter_async_context(running_worker(settings))
            yield

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),
            Route("/export/segments/{id}/members.csv", segment_members_csv, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.add_middleware(AuthAndLimits, settings=settings)
    # outermost: a deadline per request, and a 503 for an outage (the key lookup included)
    app.add_middleware(Resilience, timeout_seconds=settings.request_timeout_seconds)
    return app
