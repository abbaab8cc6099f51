"""GraphQL-shaped error bodies for refusals at the HTTP level, and the one place where an
error code becomes an HTTP status."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson
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


def error_body(message: str, code: str, **extra: object) -> bytes:
    return orjson.dumps({"errors": [{"message": message, "extensions": {"code": code, **extra}}]})


def error_response(
    message: str,
    code: str,
    status: int,
    *,
    media_type: str = JSON,
    headers: Mapping[str, str] | None = None,
    **extra: object,
) -> Response:
    """A refusal as a GraphQL response body: {"errors": [{"message", "extensions": {"code"}}]}."""
    return Response(
        error_body(message, code, **extra),
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
