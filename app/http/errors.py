"""GraphQL-shaped error bodies for refusals at the HTTP level, and the one place where an
error code becomes an HTTP status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

import orjson
from graphql import GraphQLError, GraphQLSyntaxError, OperationDefinitionNode, parse
from starlette.responses import Response

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
JSON = "application/json"

# Codes whose answer has this status whatever the media type; extend it for codes of other
# layers (e.g. SERVICE_UNAVAILABLE: 503). A 4xx of these is for a request refused before
# execution only: once execution started (data sent, even partial or null, a mutation maybe
# committed) a field's error, TOO_LARGE included, leaves the answer 200, as GraphQL over HTTP
# asks. A field's UNAUTHENTICATED or FORBIDDEN stays 200 likewise.
ALWAYS: dict[str, int] = {
    "THROTTLED": 429,
    "TOO_LARGE": 413,
    "SERVICE_UNAVAILABLE": 503,  # the database cannot be reached (app.graphql.errors)
    "TIMEOUT": 503,  # the request's deadline passed (app.resilience)
}


def status_for(codes: Iterable[str], *, request_error: bool, media_type: str) -> int:
    """The HTTP status of a GraphQL answer.

    ``request_error``: the request never reached execution (parse, validation, variables,
    cost, persisted query), so there is no data. Under application/json such answers stay
    200 (what older clients expect, and what GraphQL over HTTP asks); under
    application/graphql-response+json they are 400. Otherwise execution started: a code of
    ``ALWAYS`` gives its status only when that is a 5xx (the server failed: an outage, the
    deadline), never a 4xx.
    """
    for code in codes:
        if code in ALWAYS and (request_error or ALWAYS[code] >= 500):
            return ALWAYS[code]
    if request_error and media_type == GRAPHQL_RESPONSE_JSON:
        return 400
    return 200


def error_body(message: str, code: str, *, data_null: bool = False, **extra: object) -> bytes:
    """``data_null``: the answer of a request that did not run, under application/json
    (200), says ``"data": null`` as the executor's own parse and validation errors do."""
    errors = [{"message": message, "extensions": {"code": code, **extra}}]
    return orjson.dumps({"data": None, "errors": errors} if data_null else {"errors": errors})


def error_response(
    message: str,
    code: str,
    status: int,
    *,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
    data_null: bool = False,
    **extra: object,
) -> Response:
    """A refusal as a GraphQL response body: {"errors": [{"message", "extensions": {"code"}}]}."""
    return Response(
        error_body(message, code, data_null=data_null, **extra),
        status_code=status,
        media_type=media_type,
        headers=dict(headers or {}),
    )


class RequestError(Exception):
    """A request refused before execution, answered as a GraphQL error with its code.

    ``status`` None: the status the code and the media type call for (``status_for``).
    """

    def __init__(
        self,
        message: str,
        code: str,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.headers = dict(headers or {})


# JSON nested deeper than this is refused, whatever parser reads it (orjson's own limit; the
# standard parser would exhaust the interpreter's recursion a little sooner)
MAX_JSON_DEPTH = 1024


class NestedTooDeeply(ValueError):
    """JSON whose arrays and objects nest past MAX_JSON_DEPTH levels."""

    def __init__(self) -> None:
        super().__init__(
            f"nested too deeply (JSON arrays and objects at most {MAX_JSON_DEPTH} levels deep)"
        )


# ---------------------------------------------------------------- the document's operation


@lru_cache(maxsize=1024)
def _operations(query: str, max_tokens: int) -> tuple[str, ...] | GraphQLSyntaxError:
    """The names of the document's operations ("anonymous" for one without), or its syntax
    error (past ``max_tokens`` tokens included)."""
    try:
        document = parse(query, no_location=False, max_tokens=max_tokens)
    except GraphQLSyntaxError as e:
        return e
    return tuple(
        d.name.value if d.name else "anonymous"
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    )


def several_operations(query: str | None, operation_name: object, max_tokens: int) -> bool:
    """Whether the document has more than one operation and no operationName says which
    (GraphQL's GetOperation: a request error; strawberry would run the first one)."""
    if not query or operation_name:
        return False
    found = _operations(query, max_tokens)
    return isinstance(found, tuple) and len(found) > 1


def operation_refusal(query: str, operation_name: object, max_tokens: int) -> GraphQLError | None:
    """The request error of a document that does not parse (GRAPHQL_PARSE_FAILED, or
    MAX_TOKENS_EXCEEDED), that has several operations and no operationName, or whose
    operationName names none of its operations (OPERATION_RESOLUTION_FAILURE); None for a
    document the executor may be given."""
    found = _operations(query, max_tokens)
    if isinstance(found, GraphQLSyntaxError):
        tokens = "tokens" in found.message and "more than" in found.message
        return GraphQLError(
            found.message,
            source=found.source,
            positions=found.positions,
            extensions={"code": "MAX_TOKENS_EXCEEDED" if tokens else "GRAPHQL_PARSE_FAILED"},
        )
    if not operation_name and len(found) > 1:
        return GraphQLError(
            several_operations_message(found),
            extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
        )
    if operation_name and operation_name not in _names(query, max_tokens):
        # (strawberry's stream raises on it: an INTERNAL error with a traceback); worded as
        # the HTTP answer words it
        return GraphQLError(
            f'Unknown operation named "{operation_name}".',
            extensions={"code": "OPERATION_RESOLUTION_FAILURE"},
        )
    return None


def _names(query: str, max_tokens: int) -> set[str]:
    """The names of the document's named operations (the document parses)."""
    document = parse(query, no_location=True, max_tokens=max_tokens)
    return {
        d.name.value
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode) and d.name is not None
    }


def several_operations_message(names: Iterable[str]) -> str:
    return (
        f"The document has several operations ({', '.join(names)}) and no operationName:"
        " operationName must name the one to run"
    )


def refuse_several_operations(query: str | None, operation_name: object, max_tokens: int) -> None:
    """Raise the RequestError of a document of several operations without operationName."""
    if several_operations(query, operation_name, max_tokens):
        assert query is not None
        names = _operations(query, max_tokens)
        assert isinstance(names, tuple)
        raise RequestError(several_operations_message(names), "OPERATION_RESOLUTION_FAILURE")
