"""GraphQL over HTTP (to the letter of the GraphQL over HTTP spec) and over WebSocket.

- media types: ``application/graphql-response+json`` when the client accepts it (request
  errors then answer 400 without ``data``), ``application/json`` otherwise (as before: 200);
- GET runs queries; a mutation over GET answers 405, a subscription over HTTP a coded 400
  (subscriptions are served over the WebSocket);
- every refusal is a GraphQL-shaped body with ``extensions.code``, never a 500 or plain text;
- persisted queries (``app.http.persisted``), and plans for hot documents: the registry of
  the lookups domain (``app.lookups.plans``) answers a document it has planned without the
  executor; this layer only asks it, then writes the answer as the executor's path does
  (``extensions.cost``, the throttle, the access log's operation and cost).
"""

from __future__ import annotations

import json
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from cross_web import HTTPException
from graphql import GraphQLSchema
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import MissingQueryError
from strawberry.file_uploads.utils import replace_placeholders_with_files
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UNSET, UnsetType

from app.auth.service import is_revoked
from app.graphql import cost
from app.graphql.context import Context
from app.http import graphiql, state
from app.http.auth import read_body, replay
from app.http.errors import (
    GRAPHQL_RESPONSE_JSON,
    JSON,
    NestedTooDeeply,
    RequestError,
    error_response,
    refuse_several_operations,
    several_operations,
    status_for,
)
from app.http.persisted import PersistedQueries
from app.http.websocket import TextWebSocket, TransportWSHandler, sign_in
from app.resilience import FRONT
from app.schema import build_schema
from app.settings import Settings
from app.viewer import Viewer

if TYPE_CHECKING:
    from app.lookups.plans import Plans

_media: ContextVar[str] = ContextVar("segments_graphql_media", default=JSON)
_LONG_NUMBER_TEXT = re.compile(r"\d{20}")
# a body's digits all made "0", to find a run of 20 with bytes.find: a regex searching a
# body of 50,000 ids for it took 7 to 20 ms, this takes 0.5
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0000000000")
_TWENTY_DIGITS = b"0" * 20
_status: ContextVar[int] = ContextVar("segments_graphql_status", default=200)

# HTTPException reasons strawberry raises, and the code (and status) each becomes
_HTTP_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 415: "UNSUPPORTED_MEDIA_TYPE"}


def negotiate(accept: str | None) -> str:
    """The media type of the answer: graphql-response+json when accepted (preferred on a tie),
    application/json otherwise (also for */*, no Accept, or nothing we speak)."""
    if not accept:
        return JSON
    best, best_q = JSON, -1.0
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        media = media.lower()
        if q <= 0:
            continue
        if media == GRAPHQL_RESPONSE_JSON and q >= best_q:
            best, best_q = GRAPHQL_RESPONSE_JSON, q
        elif media in (JSON, "application/*", "*/*") and q > best_q:
            best, best_q = JSON, q
    return best


_NAMED = re.compile(r"\b(?:query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)")


def operation_name(query: str | None, given: object) -> str | None:
    """The operation's name for logs and metrics: the one given, else the document's first."""
    if isinstance(given, str):
        return given
    found = _NAMED.search(query) if query else None
    return found.group(1) if found else None


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _lowercase_media_type(scope: Scope) -> Scope:
    """The scope with its Content-Type's media type in lower case (RFC 9110: type and subtype
    are case-insensitive; strawberry compares them as written), its parameters as sent."""
    headers = scope["headers"]
    for index, (key, value) in enumerate(headers):
        if key == b"content-type":
            media, semicolon, parameters = value.partition(b";")
            if media.islower() or not media.strip():
                return scope
            lowered = list(headers)
            lowered[index] = (key, media.lower() + semicolon + parameters)
            return {**scope, "headers": lowered}
    return scope


_MEDIA_BYTES = {JSON: JSON.encode(), GRAPHQL_RESPONSE_JSON: GRAPHQL_RESPONSE_JSON.encode()}


def _messages(
    status: int, media: str, content: bytes, more: list[tuple[bytes, bytes]] | None = None
) -> tuple[Message, Message]:
    headers = [(b"content-type", _MEDIA_BYTES[media]), (b"content-length", b"%d" % len(content))]
    if more:
        headers.extend(more)
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    return start, {"type": "http.response.body", "body": content}


def _safe(name: object) -> str:
    """A name the client sent, for a message: short."""
    return str(name)[:40]


def _request_error_of(result: ExecutionResult) -> bool:
    """Whether the request never reached execution: no data, and no error has a path."""
    errors = result.errors or []
    return result.data is None and bool(errors) and all(e.path is None for e in errors)


class GraphQLApp(GraphQL[Context, None]):
    websocket_adapter_class = TextWebSocket
    graphql_transport_ws_handler_class = TransportWSHandler

    def __init__(self, settings: Settings, plans: Plans | None = None) -> None:
        origins = [o.strip() for o in settings.ws_allowed_origins.split(",") if o.strip()]
        self.throttle = (
            cost.Throttle(settings.throttle_cost_per_second, settings.throttle_burst)
            if settings.throttle_cost_per_second > 0
            else None
        )
        super().__init__(
            build_schema(settings, throttle=self.throttle),
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
            multipart_uploads_enabled=True,
            allowed_origins=origins,
        )
        self.settings = settings
        self.plans = plans
        self._graphql_schema: GraphQLSchema = self.schema._schema  # type: ignore[attr-defined]
        if plans is not None:
            plans.bind(self._graphql_schema)
        self.persisted = PersistedQueries(settings.persisted_query_cache_size)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        await sign_in(context, cache_seconds=self.settings.key_cache_seconds)
        ack: UnsetType = UNSET  # no payload in connection_ack
        return ack

    def encode_json(self, data: object) -> bytes:
        try:
            return orjson.dumps(data)
        except TypeError:  # a lone surrogate quoted in a message: JSON can escape it
            return json.dumps(data, default=str).encode()

    def decode_json(self, data: str | bytes) -> object:
        # orjson turns an integer past 64 bits into a float (silently losing it) and refuses
        # an escaped lone surrogate, which JSON's grammar allows: for those the standard
        # parser reads the body, and the input guard refuses the value with BAD_USER_INPUT
        if isinstance(data, bytes):
            long_number = data.translate(_DIGITS_AS_ZERO).find(_TWENTY_DIGITS) >= 0
        else:
            long_number = _LONG_NUMBER_TEXT.search(data) is not None
        # nesting past MAX_JSON_DEPTH raises NestedTooDeeply (a ValueError), never RecursionError
        try:
            if long_number:
                return json.loads(data)
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError as e:
                if str(e).startswith("depth limit exceeded"):
                    raise NestedTooDeeply from e
                return json.loads(data)
        except RecursionError as e:
            raise NestedTooDeeply from e

    def parse_json(self, data: str | bytes, what: str = "request body") -> Any:
        try:
            value = self.decode_json(data)
        except NestedTooDeeply as e:
            raise RequestError(f"The {what} is {e}", "BAD_REQUEST", 400) from e
        except ValueError as e:  # also a body that is not UTF-8
            raise RequestError(f"Unable to parse the {what} as JSON", "BAD_REQUEST", 400) from e
        if not isinstance(value, dict):
            raise RequestError(f"The {what} must be a JSON object", "BAD_REQUEST", 400)
        return value

    async def parse_multipart(self, request: Any) -> dict[str, Any]:
        """The operation of a GraphQL multipart request (a file upload): its ``operations``
        field with each file ``map`` names put in place. strawberry's own, but each way the
        body can be malformed is refused with a coded 400 (strawberry's answered a map path the
        operations do not have, or a file sent as ``operations``, with a 500, and Starlette's
        parser its refusals in plain text)."""
        try:
            form = await request.get_form_data()
        except StarletteHTTPException as e:  # Starlette's parser: no boundary, too many parts
            raise RequestError(
                f"Unable to parse the multipart body: {e.detail}", "BAD_REQUEST", 400
            ) from e
        except ValueError as e:
            raise RequestError("Unable to parse the multipart body", "BAD_REQUEST", 400) from e
        fields, files = form.form, form.files
        texts = {name: fields.get(name, "{}") for name in ("operations", "map")}
        if not all(isinstance(text, str | bytes) for text in texts.values()):
            raise RequestError(
                "The multipart fields operations and map must be text, not files",
                "BAD_REQUEST",
                400,
            )
        operations = self.parse_json(texts["operations"], "multipart operations field")
        files_map = self.parse_json(texts["map"], "multipart map field")
        for name, paths in files_map.items():
            if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
                raise RequestError(
                    f"The multipart map must give each file a list of paths: {_safe(name)!r}"
                    " does not",
                    "BAD_REQUEST",
                    400,
                )
            if name in files and not isinstance(files[name], UploadFile):
                raise RequestError(
                    f"The multipart map names {_safe(name)!r}, a form field that is not a file"
                    " (it has no filename)",
                    "BAD_REQUEST",
                    400,
                )
        try:
            placed: dict[str, Any] = replace_placeholders_with_files(operations, files_map, files)
        except KeyError as e:
            raise RequestError("File(s) missing in form data", "BAD_REQUEST", 400) from e
        except (IndexError, TypeError, ValueError) as e:  # a path through what is not there
            raise RequestError(
                "The multipart map names a path the operations do not have", "BAD_REQUEST", 400
            ) from e
        return placed

    def parse_query_params(self, params: Any) -> dict[str, Any]:
        found = dict(params)
        for name in ("variables", "extensions"):
            if found.get(name):
                found[name] = self.parse_json(found[name], f"{name} query parameter")
        return found

    async def parse_http_body(self, request: Any) -> GraphQLRequestData | list[GraphQLRequestData]:
        data = await super().parse_http_body(request)
        if isinstance(data, GraphQLRequestData):
            if not isinstance(data.operation_name, str | None):
                raise RequestError("operationName must be a string or null", "BAD_REQUEST", 400)
            data.query = self.persisted.resolve(data.query, data.extensions)
            refuse_several_operations(data.query, data.operation_name, self.settings.max_tokens)
            state.current().operation = operation_name(data.query, data.operation_name)
        return data

    def should_render_graphql_ide(self, request: Any) -> bool:
        # the page for browsers only: a GET accepting */* with just a persisted query's hash
        # (or nothing) is a GraphQL request
        params = request.query_params
        return (
            request.method == "GET"
            and params.get("query") is None
            and params.get("extensions") is None
            and "text/html" in request.headers.get("accept", "")
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql.page(request)

    async def execute_single(
        self,
        request: Any,
        request_adapter: Any,
        sub_response: Any,
        context: Context,
        root_value: Any,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        method = request_adapter.method
        # subscriptions go over the WebSocket; mutations only over POST
        allowed = {OperationType.QUERY}
        if method == "POST":
            allowed.add(OperationType.MUTATION)
        try:
            return await self.schema.execute(
                request_data.query,
                root_value=root_value,
                variable_values=request_data.variables,
                context_value=context,
                operation_name=request_data.operation_name,
                allowed_operation_types=allowed,
                operation_extensions=request_data.extensions,
            )
        except CannotGetOperationTypeError as e:
            raise RequestError(e.as_http_error_reason(), "OPERATION_RESOLUTION_FAILURE") from e
        except InvalidOperationTypeError as e:
            if e.operation_type is OperationType.SUBSCRIPTION:
                raise RequestError(
                    "Subscriptions are served over the WebSocket at /graphql"
                    " (graphql-transport-ws), not over HTTP",
                    "SUBSCRIPTION_NOT_SUPPORTED_OVER_HTTP",
                    400,
                ) from e
            raise RequestError(
                "Mutations must be sent with POST", "METHOD_NOT_ALLOWED", 405, {"Allow": "POST"}
            ) from e
        except MissingQueryError as e:
            raise RequestError("No GraphQL query found in the request", "BAD_REQUEST", 400) from e

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        info = state.current()
        codes: list[str] = []
        for error in result.errors or []:
            extensions = error.extensions or {}
            code = extensions.get("code")
            if isinstance(code, str):
                codes.append(code)
            if isinstance(extensions.get("errorId"), str):
                info.error_ids.append(extensions["errorId"])
        info.error_codes.extend(codes)
        cost_result = (result.extensions or {}).get("cost")
        if isinstance(cost_result, dict):
            info.cost = cost_result.get("requestedQueryCost")
        request_error = _request_error_of(result)
        media = _media.get()
        if request_error and media == GRAPHQL_RESPONSE_JSON:
            response.pop("data", None)
        _status.set(status_for(codes, request_error=request_error, media_type=media))
        return response

    def create_response(self, response_data: Any, sub_response: Response) -> Response:
        response = Response(
            self.encode_json(response_data), status_code=_status.get(), media_type=_media.get()
        )
        response.headers.raw.extend(sub_response.headers.raw)
        if sub_response.background:
            response.background = sub_response.background
        if sub_response.status_code:
            response.status_code = sub_response.status_code
        return response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            # HEAD is GET without the body (RFC 9110), which the server leaves out
            scope = {**scope, "method": "GET"}
        scope = _lowercase_media_type(scope)
        media = negotiate(_header(scope, b"accept"))
        _media.set(media)
        _status.set(200)
        try:
            # (app.http.front tries the plan of a POST before it gets here: not twice)
            if (
                self.plans is not None
                and FRONT not in scope
                and scope.get("state", {}).get("viewer") is not None
            ):
                answer, receive = await self.planned(scope, receive, media)
                if answer is not None:
                    for message in answer:
                        await send(message)
                    return
            # strawberry's own HTTP handling, but the request is closed after the response, so
            # that uploaded files are deleted whatever became of the operation
            request = Request(scope=scope, receive=receive)
            try:
                response = await self.run(request)
                await response(scope, receive, send)
            finally:
                await request.close()
        except RequestError as e:
            await self._refuse(scope, receive, send, e, media)
        except HTTPException as e:
            code = _HTTP_CODES.get(e.status_code, "BAD_REQUEST")
            status = e.status_code
            if e.reason == "Unsupported content type":
                code, status = "UNSUPPORTED_MEDIA_TYPE", 415
            await self._refuse(scope, receive, send, RequestError(e.reason, code, status), media)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, error: RequestError, media: str
    ) -> None:
        state.current().error_codes.append(error.code)
        status = error.status or status_for([error.code], request_error=True, media_type=media)
        # a GraphQL request that could not run answers 200 under application/json, with
        # "data": null as parse and validation errors have it; a 4xx is no GraphQL answer
        response = error_response(
            error.message,
            error.code,
            status,
            media_type=media,
            headers=error.headers,
            data_null=status == 200,
        )
        await response(scope, receive, send)

    # ---------------------------------------------------------------- plans

    async def planned(
        self, scope: Scope, receive: Receive, media: str
    ) -> tuple[tuple[Message, Message] | None, Receive]:
        """The two messages of the answer through the request's document's plan, when there
        is one and it answers; (None, a receive that replays the body) otherwise."""
        if scope["method"] == "GET":
            # blank values kept, as Starlette's query_params (the executor's) keep them
            query_string = scope.get("query_string", b"").decode("latin-1")
            params = dict(parse_qsl(query_string, keep_blank_values=True))
            if "query" not in params and "extensions" not in params:
                return None, receive
            try:
                request = self.parse_query_params(params)
            except RequestError:
                return None, receive
        elif scope["method"] == "POST" and (_header(scope, b"content-type") or "").startswith(
            "application/json"
        ):
            messages = await read_body(receive, self.settings.max_request_bytes)
            if messages is None:
                return None, replay([], receive)
            receive = replay(messages, receive)
            body = (
                messages[0].get("body", b"")
                if len(messages) == 1
                else b"".join(m.get("body", b"") for m in messages)
            )
            try:
                decoded = self.decode_json(body)
            except ValueError:
                return None, receive
            if not isinstance(decoded, dict):
                return None, receive
            request = decoded
        else:
            return None, receive
        query, variables, name = request.get("query"), request.get("variables"), None
        if isinstance(request.get("operationName"), str):
            name = request["operationName"]
        extensions = request.get("extensions")
        if (
            not isinstance(query, str | None)
            or not isinstance(variables, dict | None)
            or not isinstance(extensions, dict | None)
            or not isinstance(request.get("operationName"), str | None)
        ):
            return None, receive  # the executor's path refuses it (BAD_REQUEST)
        try:
            query = self.persisted.resolve(query, extensions)
        except RequestError:
            return None, receive  # the executor's path gives the same refusal
        if query is None or several_operations(query, name, self.settings.max_tokens):
            return None, receive  # the executor's path refuses a document it cannot run
        viewer: Viewer = scope["state"]["viewer"]
        persisted = isinstance(extensions, dict) and "persistedQuery" in extensions
        assert self.plans is not None
        found = await self.plans.answer(query, variables, name, viewer.site_id, persisted=persisted)
        if found is None:
            return None, receive
        plan, data = found
        requested = plan.cost_of(self._graphql_schema, variables)
        if self.throttle is not None and requested > self.throttle.capacity:
            return None, receive  # THROTTLE_BURST_EXCEEDED, as the executor words it
        # the operation's name for the log: the one given, else the planned document's own
        return self._answer(data, requested, name or plan.name, viewer, media), receive

    def _answer(
        self, data: dict[str, Any], requested: int, name: str | None, viewer: Viewer, media: str
    ) -> tuple[Message, Message]:
        """The answer's two ASGI messages, as the executor's path writes them (a Response
        object costs more than the lookup)."""
        info = state.current()
        info.operation, info.cost = name, requested
        wait = self.throttle.take(viewer.key_id, requested) if self.throttle else 0.0
        if wait:
            error = cost.throttled(requested, wait)
            info.error_codes.append("THROTTLED")
            content = orjson.dumps(
                {
                    "errors": [{"message": str(error), "extensions": error.extensions}],
                    "extensions": self._cost_extension(requested),
                }
            )
            retry = str(error.extensions["retryAfter"]).encode()
            return _messages(429, media, content, [(b"retry-after", retry)])
        content = orjson.dumps({"data": data, "extensions": self._cost_extension(requested)})
        return _messages(200, media, content)

    def _cost_extension(self, requested: int) -> dict[str, Any]:
        return {
            "cost": {
                "requestedQueryCost": requested,
                "maximumAvailable": self.settings.max_query_cost,
            }
        }

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        viewer: Viewer | None = request.scope.get("state", {}).get("viewer")
        return Context(
            request=request,
            response=response if isinstance(response, Response) else None,
            viewer=viewer,
            settings=self.settings,
            key_revoked=is_revoked,
        )


__all__ = ["GraphQLApp", "negotiate"]
