"""Idempotency keys: a repeated key with the same input returns the first outcome and
changes nothing; with another input it is refused (IDEMPOTENCY_MISMATCH).

`Once.replay` and `Once.remember` run inside the use case's own transaction, so an outcome is
stored exactly when its change commits. Two concurrent requests with one key: the second
waits on the unique index, fails to insert, and its transaction is rolled back; `retrying`
runs it once more, and it then replays the first outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError

from app.errors import DomainError, ErrorCode
from app.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 255
T = TypeVar("T")


def request_hash(operation: str, request: Any) -> str:
    """A stable hash of an operation and its input (keys sorted, so order does not matter)."""
    body = orjson.dumps([operation, request], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class Once:
    """One request's idempotency key: the use case replays a stored outcome, or remembers its
    own, inside the transaction it opens, so an outcome is stored exactly when its change
    commits."""

    site_id: int
    key: str
    operation: str
    digest: str

    @classmethod
    def of(cls, *, site_id: int, key: str | None, operation: str, request: Any) -> Once | None:
        """None without a key: nothing to replay or remember."""
        if key is None:
            return None
        if not key or len(key) > MAX_KEY_LENGTH:
            raise DomainError(
                ErrorCode.INVALID,
                f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters",
                ["idempotency_key"],
            )
        return cls(site_id, key, operation, request_hash(operation, request))

    async def replay(self, connection: BaseDBAsyncClient) -> Any | None:
        """The stored outcome for this key, None if the key is new; refuses a different input."""
        row = (
            await IdempotencyKey.filter(site_id=self.site_id, key=self.key)
            .using_db(connection)
            .first()
        )
        if row is None:
            return None
        if row.operation != self.operation or row.request_hash != self.digest:
            raise DomainError(
                ErrorCode.IDEMPOTENCY_MISMATCH,
                f"idempotencyKey {self.key!r} was used before with a different input",
                ["idempotency_key"],
            )
        return row.payload

    async def remember(self, connection: BaseDBAsyncClient, payload: Any) -> None:
        await IdempotencyKey.create(
            using_db=connection,
            site_id=self.site_id,
            key=self.key,
            operation=self.operation,
            request_hash=self.digest,
            payload=payload,
        )


async def retrying(once: Once | None, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run a use case (which opens its own transaction, replays and remembers); when a
    concurrent request with the same key committed first, the unique index refuses the
    second's outcome: its transaction is rolled back and it runs once more, to replay."""
    try:
        return await attempt()
    except IntegrityError:
        if once is None:
            raise
    return await attempt()
