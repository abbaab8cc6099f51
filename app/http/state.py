"""What the layers of one request learn about it, for its log line and its metrics.

The access log middleware opens a ``RequestInfo`` for each HTTP request; the auth layer fills
in the caller, the GraphQL layer the operation, its error codes and its cost.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from starlette.types import Message, Send


@dataclass(slots=True)
class RequestInfo:
    operation: str | None = None  # the GraphQL operation's name (or "isMember" on the fast path)
    operation_type: str | None = None  # query, mutation, subscription
    site: str | None = None
    key: str | None = None
    error_codes: list[str] = field(default_factory=list)
    error_ids: list[str] = field(default_factory=list)  # ids of masked internal errors
    cost: int | None = None


class StatusSeen:
    """An ASGI ``send`` that passes messages on and keeps the response's status
    (``default`` until the response starts)."""

    def __init__(self, send: Send, default: int) -> None:
        self._send = send
        self.status = default

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


_current: ContextVar[RequestInfo | None] = ContextVar("segments_request_info", default=None)


def current() -> RequestInfo:
    """The request's info; a throwaway one outside a request (tests calling the schema)."""
    info = _current.get()
    return info if info is not None else RequestInfo()


def begin() -> RequestInfo:
    info = RequestInfo()
    _current.set(info)
    return info
