"""One error model: userErrors for user mistakes, public GraphQL errors for the rest.

A `PublicError` (bad credentials, a role too low, a request over a limit) reaches the
caller with its message and `extensions.code`; any other exception is masked to a plain
message with an id that matches the log line.
"""

from __future__ import annotations

import logging
import re
import traceback
import uuid
from collections.abc import Iterator
from typing import Any

import strawberry
from graphql.error import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import MaskErrors, SchemaExtension

from app.db import is_outage
from app.errors import ErrorCode

log = logging.getLogger("segments.errors")

strawberry.enum(ErrorCode, name="ErrorCode")


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode


class PublicError(Exception):
    """An error whose message the caller may see, with a machine-readable code."""

    def __init__(self, message: str, code: str, **extra: Any) -> None:
        super().__init__(message)
        self.extensions = {"code": code, **extra}


def unauthenticated(
    message: str = "Authentication required: send 'Authorization: Bearer <key>'",
) -> PublicError:
    return PublicError(message, "UNAUTHENTICATED")


def forbidden(needed: str) -> PublicError:
    return PublicError(f"This operation needs the {needed} role", "FORBIDDEN")


def _is_public(error: GraphQLError) -> bool:
    original = error.original_error
    # syntax and validation errors carry no original error, and a variable that cannot be
    # coerced carries graphql-core's own error: all are the caller's, to be shown as they are
    return original is None or isinstance(original, PublicError | GraphQLError)


# a log line holds at most this much of an error: a 20 MB value echoed in an exception's
# message must not become 40 MB of log
MAX_LOGGED_ERROR_CHARS = 8000
RETRY_AFTER_SECONDS = 1


def bounded_traceback(error: BaseException | None) -> str:
    """The error's traceback for the log, each line and the whole cut to a bounded size."""
    if error is None:
        return ""
    lines = traceback.format_exception(error)
    text = "".join(line if len(line) < 1000 else line[:1000] + "...(cut)\n" for line in lines)
    if len(text) > MAX_LOGGED_ERROR_CHARS:
        half = MAX_LOGGED_ERROR_CHARS // 2
        text = text[:half] + "\n...(cut)...\n" + text[-half:]
    return text


def service_unavailable() -> PublicError:
    return PublicError(
        "The database cannot be reached at the moment; try again shortly",
        "SERVICE_UNAVAILABLE",
    )


class MaskInternalErrors(MaskErrors):
    """Masks everything but public errors; logs the original under the id it returns. A
    database outage is no bug: it is said as SERVICE_UNAVAILABLE, and the HTTP answer is a 503
    with Retry-After."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not _is_public(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if is_outage(error.original_error):
            self._unavailable()
            log.warning(
                "database unavailable at %s: %.500r",
                ".".join(str(p) for p in error.path or []),
                error.original_error,
            )
            outage = service_unavailable()
            return GraphQLError(
                message=str(outage),
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=None,
                extensions=outage.extensions,
            )
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "internal error %s at %s",
            error_id,
            ".".join(str(p) for p in error.path or []),
            # the traceback as a field, bounded: an exception may echo a huge input value
            extra={"error_id": error_id, "traceback": bounded_traceback(error.original_error)},
        )
        return GraphQLError(
            message=f"Internal server error (id {error_id})",
            nodes=error.nodes,
            source=error.source,
            positions=error.positions,
            path=error.path,
            original_error=None,
            extensions={"code": "INTERNAL", "errorId": error_id},
        )

    def _unavailable(self) -> None:
        response = getattr(self.execution_context.context, "response", None)
        if response is not None:  # an HTTP request (a WebSocket has no status to set)
            response.status_code = 503
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)


_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")
# the limits' messages (strawberry's depth and alias validators, graphql-core's token limit)
_LIMITS = (
    ("exceeds maximum operation depth", "MAX_DEPTH_EXCEEDED"),
    ("aliases found. Allowed", "MAX_ALIASES_EXCEEDED"),
    ("more than", "MAX_TOKENS_EXCEEDED"),
)


def _limit_code(message: str, default: str) -> str:
    for text, code in _LIMITS:
        if text in message and (code != "MAX_TOKENS_EXCEEDED" or "tokens" in message):
            return code
    return default


def _set_code(error: GraphQLError, code: str) -> None:
    extensions = dict(error.extensions or {})
    extensions.setdefault("code", code)
    error.extensions = extensions


class ErrorCodes(SchemaExtension):
    """Gives every error an ``extensions.code`` by the phase it came from (an error that has
    one keeps it): GRAPHQL_PARSE_FAILED, GRAPHQL_VALIDATION_FAILED, BAD_USER_INPUT for
    variables, MAX_*_EXCEEDED for the limits; and, with ``hide_suggestions``, takes "Did you
    mean ...?" out of messages (they would show the schema when introspection is off). The
    results of the WebSocket (``Schema.stream``) are coded likewise, each as it is sent."""

    hide_suggestions = False

    def on_validate(self) -> Iterator[None]:
        yield
        for error in self.execution_context.pre_execution_errors or []:
            _set_code(error, _limit_code(error.message, "GRAPHQL_VALIDATION_FAILED"))

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLSyntaxError as syntax_error:
            # ParserCache parses on entering the parse phase: a syntax error leaves through here
            _set_code(syntax_error, _limit_code(syntax_error.message, "GRAPHQL_PARSE_FAILED"))
            raise
        self._code(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        # over the WebSocket each result is sent before on_operation ends: each is coded here
        self._code(result)
        yield

    def _code(self, result: Any) -> None:
        if result is None or not getattr(result, "errors", None):
            return
        pathless_without_data = result.data is None
        for error in result.errors:
            if isinstance(error, GraphQLSyntaxError):
                _set_code(error, _limit_code(error.message, "GRAPHQL_PARSE_FAILED"))
            elif error.path is None and pathless_without_data:
                # before execution: variables that cannot be coerced, an unknown operation
                _set_code(error, "BAD_USER_INPUT")
            else:
                _set_code(error, "BAD_USER_INPUT" if error.original_error is None else "INTERNAL")
            if self.hide_suggestions:
                error.message = _SUGGESTION.sub("", error.message)


def error_codes(*, hide_suggestions: bool) -> type[ErrorCodes]:
    return type("ErrorCodes", (ErrorCodes,), {"hide_suggestions": hide_suggestions})
