"""A real HTTP receiver (uvicorn on a free port, on the test's loop) that records what it is
sent and answers as the test scripts it; apps and workers with the webhook settings a test
needs; changes written into the record as the membership writers write them."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from tortoise.transactions import in_transaction

from app.changes.models import ChangeCause, ChangeKind
from app.changes.record import Change, lock_site, write
from app.settings import Settings
from app.webhooks.worker import WebhookWorker
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Api, served
from tests.processes import free_port

# the server processes' test needs PostgreSQL (NOTIFY between processes, SKIP LOCKED), and
# the segment locks' test its row locks: on SQLite they are not collected at all (rather than
# skipped; there a transaction excludes every other writer)
collect_ignore = (
    []
    if TEST_DATABASE_URL.startswith(("postgres://", "postgresql://"))
    else ["test_processes.py", "test_segment_locks.py"]
)

CREATE = """
mutation($input: WebhookInput!) {
  createWebhook(input: $input) {
    webhook { id url description segmentIds enabled disabledReason secret createdAt }
    userErrors { field message code }
  }
}
"""

UPDATE = """
mutation($id: ID!, $input: UpdateWebhookInput!) {
  updateWebhook(id: $id, input: $input) {
    webhook { id url description segmentIds enabled disabledReason secret }
    userErrors { field message code }
  }
}
"""

DELETE = """
mutation($id: ID!) { deleteWebhook(id: $id) { deletedId userErrors { field message code } } }
"""

WEBHOOK = """
query($id: ID!, $status: WebhookDeliveryStatus) {
  webhook(id: $id) {
    id url enabled disabledReason secret segmentIds
    deliveries(status: $status, first: 100) {
      totalCount
      edges { node {
        id status attempts changeCount responseStatus error createdAt deliveredAt
      } }
    }
  }
}
"""

WEBHOOKS = "{ webhooks { id url enabled secret } }"


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def changes(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = orjson.loads(self.body)["data"]["changes"]
        return data


@dataclass
class Receiver:
    """What the receiver was sent. ``statuses`` are answered one per request before the
    default 200; while ``hold`` is set, a request waits for it before it is answered."""

    port: int
    received: list[Received] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    hold: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, request: Request) -> Response:
        self.received.append(Received(dict(request.headers), await request.body()))
        if self.hold is not None:
            await self.hold.wait()
        status = self.statuses.popleft() if self.statuses else 200
        return Response(b"nope" if status >= 300 else b"", status_code=status)

    def ids(self) -> list[str]:
        return [r.id for r in self.received]


@contextlib.asynccontextmanager
async def serving(receiver: Receiver, **options: Any) -> AsyncIterator[Receiver]:
    """The receiver on its port (options: uvicorn's, ssl_certfile and ssl_keyfile, say)."""
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    config = uvicorn.Config(
        app, host="127.0.0.1", port=receiver.port, log_level="warning", lifespan="off", **options
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    await until(lambda: server.started, what="the receiver to start")
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        server.should_exit = True
        server.force_exit = True
        await task


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving(Receiver(port=free_port())) as r:
        yield r


def hook_settings(**overrides: Any) -> Settings:
    """Settings for a test app or worker: private networks allowed (the receiver is on
    127.0.0.1), tiny waits so that tests stay fast, no worker unless asked."""
    values: dict[str, Any] = {
        "webhook_worker": False,
        "webhook_allow_private_networks": True,
        "webhook_retry_base_seconds": 0.05,
        "webhook_retry_max_seconds": 0.2,
        "webhook_poll_seconds": 0.05,
        "webhook_timeout_seconds": 2.0,
        "webhook_claim_timeout_seconds": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


HookApp = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


@pytest.fixture
def hook_app(api: Api) -> HookApp:
    """hook_app(**settings) runs an app with those webhook settings for the api fixture's site."""

    @contextlib.asynccontextmanager
    async def run(**overrides: Any) -> AsyncIterator[Api]:
        async with served(api, hook_settings(**overrides)) as served_api:
            yield served_api

    return run


@pytest.fixture
async def hooks(hook_app: HookApp) -> AsyncIterator[Api]:
    """The api fixture's site, served by an app that allows private receivers."""
    async with hook_app() as a:
        yield a


class Clock:
    """A clock the test moves: now() is what the worker reads."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


Workers = Callable[..., WebhookWorker]


@pytest.fixture
async def workers(db: None) -> AsyncIterator[Workers]:
    """workers(clock=..., **settings) starts a worker (as a server process would run one);
    every one still running is stopped at the end of the test."""
    started: list[WebhookWorker] = []

    def start(clock: Callable[[], datetime] | None = None, **overrides: Any) -> WebhookWorker:
        kwargs: dict[str, Any] = {} if clock is None else {"clock": clock}
        worker = WebhookWorker(hook_settings(**overrides), **kwargs)
        worker.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.abort()


async def record(
    site_id: int,
    segment_id: int | str,
    refs: Sequence[str],
    *,
    kind: ChangeKind = ChangeKind.ENTERED,
    cause: ChangeCause = ChangeCause.LISTED,
) -> int:
    """Changes of one segment written into the record as a membership write does; the last id."""
    at = datetime.now(UTC)
    changes = [
        Change(
            segment_id=int(segment_id),
            member_id=1000 + i,
            member_ref=ref,
            kind=kind,
            cause=cause,
            at=at,
        )
        for i, ref in enumerate(refs)
    ]
    async with in_transaction() as tx:
        await lock_site(site_id, tx)
        return await write(site_id, changes, tx)


async def until(check: Callable[[], Any], *, within: float = 10.0, what: str = "") -> Any:
    """Poll check() (sync or async) until it returns something truthy; fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(0.02)


async def create(api: Api, **input: Any) -> dict[str, Any]:
    """createWebhook that must succeed; the webhook (with its secret)."""
    payload = (await api.query(CREATE, {"input": input}))["createWebhook"]
    assert payload["userErrors"] == [], payload["userErrors"]
    webhook: dict[str, Any] = payload["webhook"]
    return webhook


async def webhook(api: Api, webhook_id: str, status: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = (await api.query(WEBHOOK, {"id": webhook_id, "status": status}))[
        "webhook"
    ]
    return found


def deliveries(found: dict[str, Any]) -> list[dict[str, Any]]:
    """A webhook's deliveries, oldest first."""
    return [e["node"] for e in reversed(found["deliveries"]["edges"])]
