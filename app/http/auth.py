"""The bearer key (401 for one that is unknown or revoked) and the request body limits (413),
before anything of the request is read or run."""

from __future__ import annotations

import re
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.service import authenticate
from app.http import state
from app.http.errors import error_response
from app.resilience import FRONT
from app.settings import Settings
from app.viewer import Viewer


async def read_body(receive: Receive, limit: int) -> list[Message] | None:
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


def replay(messages: list[Message], receive: Receive) -> Receive:
    """A receive that gives the messages already read, then passes on to the real one."""
    pending = list(messages)

    async def replayed() -> Message:
        return pending.pop(0) if pending else await receive()

    return replayed


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


# the request headers this layer reads (the last of each wins, as in a dict of them all)
_READ = frozenset((b"content-length", b"content-type", b"authorization"))


def _headers(scope: Scope) -> dict[bytes, str]:
    return {k.lower(): v.decode("latin-1") for k, v in scope["headers"] if k.lower() in _READ}


def _is_upload(scope: Scope, headers: dict[bytes, str]) -> bool:
    """A GraphQL multipart request (a file upload): streamed, with the upload size limit."""
    content_type = headers.get(b"content-type", "").lower()
    return scope["path"] == "/graphql" and content_type.startswith("multipart/form-data")


_OPERATION_NAME = re.compile(rb'"operationName"\s*:\s*"([_A-Za-z][_0-9A-Za-z]{0,99})"')
_NAMED_OPERATION = re.compile(rb"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]{0,99})")


async def _operation_hint(scope: Scope, receive: Receive) -> str | None:
    """The operation's name of a request about to be refused, for its log line: from the
    query string, or from the first chunk of the body (never more than one chunk is read)."""
    if scope["method"] == "GET":
        params = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        text = (params.get("operationName") or params.get("query") or [""])[0].encode()
        if params.get("operationName"):
            return str(text.decode())
    else:
        message = await receive()
        body: bytes = message.get("body", b"") if message["type"] == "http.request" else b""
        text = body[:65536]
    found = _OPERATION_NAME.search(text) or _NAMED_OPERATION.search(text)
    return found.group(1).decode() if found else None


def signed_in(scope: Scope, viewer: Viewer) -> None:
    scope.setdefault("state", {})["viewer"] = viewer
    info = state.current()
    info.site = viewer.site_name
    info.key = viewer.key_name


class AuthAndLimits:
    """Bearer key to viewer (scope["state"]["viewer"]) and request size limits."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def viewer(self, authorization: str) -> Viewer | None:
        scheme, _, secret = authorization.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return await authenticate(secret.strip(), cache_seconds=self.settings.key_cache_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http" or FRONT in scope:  # (app.http.front: signed in there)
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        length = headers.get(b"content-length")
        upload = _is_upload(scope, headers)
        limit = self.settings.max_upload_bytes if upload else self.settings.max_request_bytes
        what = "Upload" if upload else "Request body"
        if length and length.isdigit() and int(length) > limit:
            await self.refuse(
                scope,
                receive,
                send,
                f"{what} of {length} bytes is over the limit of {limit} bytes",
                "TOO_LARGE",
                413,
            )
            return
        if length is None and upload:
            # an upload is never held in memory: counted as it streams to disk, stopped at the limit
            receive = _limited(receive, limit)
        elif length is None:
            # a chunked body declares no length: read it here, so that it too stops at the limit
            messages = await read_body(receive, limit)
            if messages is None:
                message = f"Request body is over the limit of {limit} bytes"
                await self.refuse(scope, receive, send, message, "TOO_LARGE", 413, sniff=False)
                return
            receive = replay(messages, receive)
        auth = headers.get(b"authorization", "")
        if auth:
            viewer = await self.viewer(auth)
            if viewer is None:
                message = "Invalid or revoked API key"
                await self.refuse(scope, receive, send, message, "UNAUTHENTICATED", 401)
                return
            signed_in(scope, viewer)
        elif upload:  # nothing is read, let alone stored, for a caller we do not know
            message = "Uploads need an API key"
            await self.refuse(scope, receive, send, message, "UNAUTHENTICATED", 401)
            return
        if length is None and upload:
            await self._counted(scope, receive, send, f"{what} is over the limit of {limit} bytes")
        else:  # the body is known to be within its limit: nothing to watch
            await self.app(scope, receive, send)

    async def _counted(self, scope: Scope, receive: Receive, send: Send, refusal: str) -> None:
        """Run an upload counted as it streams: a 413 when it goes over its limit before the
        answer has started (after that, the error is the server's)."""
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except _BodyTooLarge:
            if started:
                raise
            await self.refuse(scope, receive, send, refusal, "TOO_LARGE", 413, sniff=False)

    @staticmethod
    async def refuse(
        scope: Scope,
        receive: Receive,
        send: Send,
        message: str,
        code: str,
        status: int,
        *,
        sniff: bool = True,
    ) -> None:
        """Answer a refusal; ``sniff``: nothing of the body has been read yet, so its first
        chunk may be, for the operation's name in the log line."""
        info = state.current()
        info.error_codes.append(code)
        if sniff and scope["path"] == "/graphql" and info.operation is None:
            info.operation = await _operation_hint(scope, receive)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        await error_response(message, code, status, headers=headers)(scope, receive, send)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A key in the handshake's Authorization header signs the connection in; a bad one
        refuses the handshake. With none, connection_init must carry one (app.http.websocket)."""
        for name, value in scope["headers"]:
            if name.lower() != b"authorization":
                continue
            viewer = await self.viewer(value.decode("latin-1"))
            if viewer is None:
                await send({"type": "websocket.close", "code": 4403, "reason": "Invalid API key"})
                return
            scope.setdefault("state", {})["viewer"] = viewer
        await self.app(scope, receive, send)
