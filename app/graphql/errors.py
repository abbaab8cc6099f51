"""One error model: userErrors for user mistakes, public GraphQL errors for the rest.

A `PublicError` (bad credentials, a role too low, a request over a limit) reaches the
caller with its message and `extensions.code`; any other exception is masked to a plain
message with an id that matches the log line.
"""

from __future__ import annotations

import logging
import traceback
import uuid
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from app.db import is_outage
from app.errors import DomainError, ErrorCode

log = logging.getLogger("segments.errors")

strawberry.enum(ErrorCode, name="ErrorCode")


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode


def user_errors(error: DomainError) -> list[UserError]:
    return [UserError(field=error.field, message=error.message, code=error.code)]


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
            "internal error %s at %s\n%s",
            error_id,
            ".".join(str(p) for p in error.path or []),
            bounded_traceback(error.original_error),
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
