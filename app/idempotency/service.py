"""Idempotency keys: a repeated key with the same input returns the first outcome and
changes nothing; with another input it is refused (IDEMPOTENCY_MISMATCH).

`replay` and `remember` run inside the mutation's own transaction, so an outcome is stored
exactly when its change commits. Two concurrent requests with one key: the second waits
on the unique index, fails to insert, and its transaction is rolled back; the caller
retries once and then replays the first outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from app.errors import DomainError, ErrorCode
from app.idempotency.models import IdempotencyKey

MAX_KEY_LENGTH = 255


def request_hash(operation: str, request: Any) -> str:
    """A stable hash of an operation and its input (keys sorted, so order does not matter)."""
    body = orjson.dumps([operation, request], option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.sha256(body).hexdigest()


async def replay(
    connection: BaseDBAsyncClient, *, site_id: int, key: str, operation: str, digest: str
) -> Any | None:
    """The stored outcome for this key, None if the key is new; refuses a different input."""
    if not key or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            ErrorCode.INVALID,
            f"idempotencyKey must be 1 to {MAX_KEY_LENGTH} characters",
            ["idempotencyKey"],
        )
    row = await IdempotencyKey.filter(site_id=site_id, key=key).using_db(connection).first()
    if row is None:
        return None
    if row.operation != operation or row.request_hash != digest:
        raise DomainError(
            ErrorCode.IDEMPOTENCY_MISMATCH,
            f"idempotencyKey {key!r} was used before with a different input",
            ["idempotencyKey"],
        )
    return row.payload


async def remember(
    connection: BaseDBAsyncClient,
    *,
    site_id: int,
    key: str,
    operation: str,
    digest: str,
    payload: Any,
) -> None:
    await IdempotencyKey.create(
        using_db=connection,
        site_id=site_id,
        key=key,
        operation=operation,
        request_hash=digest,
        payload=payload,
    )


async def run_once(
    *,
    site_id: int,
    key: str | None,
    operation: str,
    request: Any,
    work: Callable[[BaseDBAsyncClient], Awaitable[Any]],
    store: bool = True,
) -> Any:
    """Run work in one transaction and return its JSON outcome; with a key, at most once per
    key and input: a repeat replays the stored outcome, another input is refused. With
    store=False (a dry run, which changed nothing) the outcome is not kept for replay."""
    digest = request_hash(operation, request) if key is not None else ""
    for attempt in range(2):
        try:
            async with in_transaction() as tx:
                if key is not None:
                    stored = await replay(
                        tx, site_id=site_id, key=key, operation=operation, digest=digest
                    )
                    if stored is not None:
                        return stored
                result = await work(tx)
                if key is not None and store:
                    await remember(
                        tx,
                        site_id=site_id,
                        key=key,
                        operation=operation,
                        digest=digest,
                        payload=result,
                    )
                return result
        except IntegrityError:
            # a concurrent request with the same key committed first: replay its outcome
            if key is None or attempt == 1:
                raise
    raise AssertionError("unreachable")
