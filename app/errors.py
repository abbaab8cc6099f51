"""The domain's expected failures; the GraphQL layer turns them into userErrors."""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TypeVar


class ErrorCode(enum.Enum):
    NOT_FOUND = "NOT_FOUND"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    INVALID = "INVALID"
    INVALID_RULE = "INVALID_RULE"
    TOO_LARGE = "TOO_LARGE"
    CONFLICT = "CONFLICT"
    FORBIDDEN = "FORBIDDEN"
    IDEMPOTENCY_MISMATCH = "IDEMPOTENCY_MISMATCH"


class DomainError(Exception):
    """A user mistake: raised inside a transaction, so nothing it began is kept."""

    def __init__(self, code: ErrorCode, message: str, field: Sequence[str] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = list(field) if field is not None else None


MAX_LISTED_ERRORS = 100  # the mistakes of one request listed one by one; the rest counted


class DomainErrors(DomainError):
    """Several user mistakes found together (every invalid row of a batch), each reported on
    its own; a handler of one error sees the first."""

    def __init__(self, errors: Sequence[DomainError]) -> None:
        first = errors[0]
        super().__init__(first.code, first.message, first.field)
        self.errors = list(errors)


T = TypeVar("T")


def check_each(items: Iterable[T], check: Callable[[T], object]) -> None:
    """``check(item)`` for every item; raises the DomainErrors of all of them at once (the
    first MAX_LISTED_ERRORS listed, then one error counting the rest), or nothing."""
    errors: list[DomainError] = []
    for item in items:
        try:
            check(item)
        except DomainError as error:
            errors.append(error)
    if not errors:
        return
    listed = errors[:MAX_LISTED_ERRORS]
    if len(errors) > MAX_LISTED_ERRORS:
        more = len(errors) - MAX_LISTED_ERRORS
        listed.append(DomainError(ErrorCode.INVALID, f"{more} more errors are not listed"))
    raise DomainErrors(listed)


def not_found(what: str, ident: str, field: Sequence[str] | None = None) -> DomainError:
    return DomainError(ErrorCode.NOT_FOUND, f"{what} {ident!r} not found", field)


class HistoryUnavailable(Exception):
    """An ``at`` before the retained membership history: refused, never guessed
    (``extensions.code`` HISTORY_UNAVAILABLE)."""

    code = "HISTORY_UNAVAILABLE"

    def __init__(self, message: str, history_from: datetime | None) -> None:
        super().__init__(message)
        self.message = message
        self.history_from = history_from
