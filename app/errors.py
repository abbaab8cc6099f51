"""The domain's expected failures; the GraphQL layer turns them into userErrors."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime


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
