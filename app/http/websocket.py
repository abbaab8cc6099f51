"""GraphQL over WebSocket (graphql-transport-ws): who is connecting, and text frames."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from typing import NoReturn

import orjson
from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from app import metrics
from app.auth.service import authenticate
from app.graphql.context import Context
from app.http.errors import NestedTooDeeply, operation_refusal
from app.http.sessions import sessions

_KEY_FIELDS = ("Authorization", "authorization", "apiKey", "api_key")


def key_in(params: Mapping[str, object] | None) -> str | None:
    """The API key a connection_init payload carries: {"Authorization": "Bearer <key>"},
    {"apiKey": "<key>"} or either inside {"headers": {...}}; "" for one that is malformed."""
    if not params:
        return None
    headers = params.get("headers")
    if isinstance(headers, Mapping) and (found := key_in(headers)) is not None:
        return found
    for name in _KEY_FIELDS:
        value = params.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            return ""
        if name.lower() == "authorization":
            scheme, _, secret = value.partition(" ")
            return secret.strip() if scheme.lower() == "bearer" else ""
        return value.strip()
    return None


async def sign_in(context: Context, *, cache_seconds: float) -> None:
    """Who the connection is: the key of connection_init, else the handshake's header.
    No key, or a key that is unknown or revoked, refuses the connection (close 4403, the
    reason saying which)."""
    secret = key_in(context.connection_params)
    if secret is not None:
        viewer = await authenticate(secret, cache_seconds=cache_seconds) if secret else None
        if viewer is None:
            _refuse(context, "Invalid or revoked API key")
        context.sign_in(viewer)
    elif context.viewer_or_none is None:
        _refuse(context, "Authentication required: no API key in connection_init")
    if isinstance(context.request, WebSocket):  # revoking the key closes the session
        sessions.add(context.viewer.key_id, context.request, check_every=cache_seconds)


def _refuse(context: Context, message: str) -> NoReturn:
    """Refuse the connection; its close (4403) gives the message as the reason, where
    strawberry gives "Forbidden" for every refusal."""
    if isinstance(context.request, WebSocket):
        context.request.state.refusal = message
    raise ConnectionRejectionError({"message": message})


class TextWebSocket(ASGIWebSocketAdapter):
    """graphql-transport-ws messages are text frames; the view's orjson encoder gives bytes.
    A refused connection's close says why (see _refuse); so does the close of a message
    nested too deeply (4400)."""

    async def close(self, code: int, reason: str) -> None:
        if code == 4403:
            reason = getattr(self.ws.state, "refusal", reason)
        await super().close(code, reason)

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object]:
        # a message nested too deeply closes the socket as one that is not JSON does (4400)
        try:
            async for message in super().iter_json(ignore_parsing_errors=ignore_parsing_errors):
                yield message
        except NestedTooDeeply as e:
            await self.close(4400, f"WebSocket message is {e}")

    async def send_json(self, message: Mapping[str, object]) -> None:
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws, with a request error for a document that cannot run: one that
    does not parse (strawberry's stream lets the parser cache's syntax error escape, logged
    as a traceback, and only completes) and one of several operations without operationName
    (strawberry would run the first). Either is an ``error`` message for the id. So is one
    past the connection's limit of operations at once (max_subscriptions_per_connection,
    strawberry's 100), with the code TOO_MANY_SUBSCRIPTIONS (strawberry's error has none).
    A subscribe message of the wrong shape (payload not an object, query not a string,
    variables or extensions not an object, operationName not a string) closes the socket with
    4400, as the protocol asks for a message of a format it does not specify.
    The errors it sends are counted in ``segments_graphql_errors_total`` by code, as an HTTP
    answer's are. A message that is JSON but no object closes with 4400 too. A
    connection_init whose payload is null is one without a payload (the
    protocol's `payload?: Record<string, unknown> | null`), where strawberry closes it with
    4400."""

    async def handle_message(self, message: Message) -> None:
        # JSON that is no object (an array, null, a number, a string): a message of a format
        # the protocol does not specify, closed with 4400 (strawberry indexes it by "type":
        # a TypeError, closing 1011 with a traceback)
        if not isinstance(message, Mapping):
            await self.handle_invalid_message("WebSocket message must be a JSON object")
            return
        await super().handle_message(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if message.get("payload", {}) is None:
            message = {"type": "connection_init"}
        await super().handle_connection_init(message)

    async def send_message(self, message: Message) -> None:
        for code in _error_codes(message):
            metrics.ERRORS.labels(code).inc()
        await super().send_message(message)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        payload = message.get("payload")
        if self.connection_acknowledged and (malformed := _malformed(message)) is not None:
            # a message of a format the protocol does not specify: closed with 4400
            await self.websocket.close(code=4400, reason=f"Invalid subscribe message: {malformed}")
            return
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            error = GraphQLError(
                f"Subscription limit reached: at most {limit} operations at once on one"
                " connection; complete one, or open another connection",
                extensions={"code": "TOO_MANY_SUBSCRIPTIONS"},
            )
            await self.send_message(
                {"id": message["id"], "type": "error", "payload": [error.formatted]}
            )
            return
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and isinstance(payload, Mapping)
            and isinstance(query := payload.get("query"), str)
        ):
            max_tokens = self.context.settings.max_tokens
            refusal = operation_refusal(query, payload.get("operationName"), max_tokens)
            if refusal is not None:
                await self.send_message(
                    {"id": message["id"], "type": "error", "payload": [refusal.formatted]}
                )
                return
        await super().handle_subscribe(message)


def _malformed(message: Mapping[str, object]) -> str | None:
    """What is wrong with a subscribe message's shape, or None for one strawberry may run."""
    if not isinstance(message.get("id"), str):
        return "id must be a string"
    payload = message.get("payload")
    if not isinstance(payload, Mapping):
        return "payload must be an object"
    if not isinstance(payload.get("query"), str):
        return "payload.query must be a string"
    for name in ("variables", "extensions"):
        if not isinstance(payload.get(name), Mapping | None):
            return f"payload.{name} must be an object or null"
    if not isinstance(payload.get("operationName"), str | None):
        return "payload.operationName must be a string or null"
    return None


def _error_codes(message: Mapping[str, object]) -> list[str]:
    """The codes of the errors an ``error`` message, or a ``next`` message's result, carries."""
    payload = message.get("payload")
    if message.get("type") == "next" and isinstance(payload, Mapping):
        payload = payload.get("errors")
    elif message.get("type") != "error":
        return []
    codes = []
    for error in payload if isinstance(payload, list) else ():
        extensions = error.get("extensions") if isinstance(error, Mapping) else None
        code = extensions.get("code") if isinstance(extensions, Mapping) else None
        if isinstance(code, str):
            codes.append(code)
    return codes
