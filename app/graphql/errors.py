"""One error model: userErrors for user mistakes, public GraphQL errors for the rest.

A `PublicError` (bad credentials, a role too low, a request over a limit) reaches the
caller with its message and `extensions.code`; any other exception is masked to a plain
message with an id that matches the log line.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import MaskErrors

from app.errors import DomainError, ErrorCode

log = logging.getLogger("segments.errors")

strawberry.enum(ErrorCode, name="ErrorCode")


@strawberry.type
class UserError:
    field: list[str] | None
    message: str
    code: ErrorCode


def user_errors(
    error: DomainError, fields: Mapping[str, Sequence[str]] | None = None
) -> list[UserError]:
    """The error as userErrors; ``fields`` maps the terms of its path to argument paths."""
    field = error.field
    if field is not None and fields:
        field = [part for term in field for part in fields.get(term, [term])]
    return [UserError(field=field, message=error.message, code=error.code)]


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


class MaskInternalErrors(MaskErrors):
    """Masks everything but public errors; logs the original under the id it returns."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda error: not _is_public(error))

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error_id = uuid.uuid4().hex[:12]
        log.error(
            "internal error %s at %s",
            error_id,
            ".".join(str(p) for p in error.path or []),
            exc_info=error.original_error,
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
