"""Webhooks sent by server processes (PostgreSQL only: see conftest.py). Two uvicorn processes
on the test database, each with its webhook worker: every batch goes out through one of
them, once and in order; and a server killed (SIGKILL) while a receiver holds its request
leaves the delivery to the next server, which sends it again under the same id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import pytest

from app.auth.service import create_site
from app.db import execute
from app.webhooks import service
from app.webhooks.models import DeliveryStatus, WebhookDelivery
from tests.processes import Server
from tests.webhooks.conftest import Receiver, record, until

# each server with its webhook worker (and no other), sending to a receiver on 127.0.0.1
WEBHOOK_SERVER = {
    "EMAIL_WORKER": "false",
    "IMPORT_WORKER": "false",
    "MEMBERSHIP_SWEEPER": "false",
    "WEBHOOK_WORKER": "true",
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",
    "WEBHOOK_POLL_SECONDS": "0.1",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.05",
    "WEBHOOK_BATCH_SIZE": "3",
}


@pytest.fixture
def start(database: str, db: None) -> Iterator[Callable[[], Server]]:
    """start() runs a server; every one still running is stopped at the end of the test."""
    started: list[Server] = []

    def run() -> Server:
        started.append(Server(database, **WEBHOOK_SERVER))
        return started[-1]

    yield run
    for server in started:
        server.stop()


async def _webhook(site_id: int, receiver: Receiver) -> int:
    made = await service.create(
        site_id=site_id, data=service.WebhookData(url=receiver.url), allow_private=True
    )
    return int(made.id)


async def test_two_processes_send_each_batch_once_in_order(
    start: Callable[[], Server], receiver: Receiver
) -> None:
    # given two servers, and webhooks of a site
    site = await create_site(slug="procs", name="Procs")
    hooks = [await _webhook(site.id, receiver) for _ in range(3)]
    first, second = start(), start()
    await first.ready()
    await second.ready()
    # when changes are recorded in several writes (each heard by both servers)
    expected = []
    for n in range(5):
        refs = [f"m-{n}-{i}" for i in range(4)]
        expected += refs
        await record(site.id, 7, refs)

    # then every webhook gets every change once, in order, and no delivery goes out twice
    async def all_sent() -> bool:
        done = await WebhookDelivery.filter(status=DeliveryStatus.SUCCEEDED).count()
        pending = await WebhookDelivery.filter(status=DeliveryStatus.PENDING).count()
        sent = sum(len(r.changes) for r in receiver.received)
        return pending == 0 and done > 0 and sent >= 3 * len(expected)

    await until(all_sent, within=30, what="every change to every webhook")
    assert len(receiver.ids()) == len(set(receiver.ids()))
    by_hook: dict[int, list[str]] = {h: [] for h in hooks}
    for r in receiver.received:
        row = await WebhookDelivery.get(id=int(r.id))
        by_hook[row.webhook_id] += [c["memberId"] for c in r.changes]
    assert by_hook == {h: expected for h in hooks}


async def test_a_killed_server_leaves_the_delivery_to_the_next_one_under_the_same_id(
    start: Callable[[], Server], receiver: Receiver
) -> None:
    # given a server sending to a receiver that holds its answer
    site = await create_site(slug="killed", name="Killed")
    hook = await _webhook(site.id, receiver)
    receiver.hold = asyncio.Event()
    first = start()
    await first.ready()
    await record(site.id, 7, ["m-1", "m-2"])
    await until(lambda: receiver.received, what="the request to arrive")
    # when the server is killed mid-send, and its claim has run out
    first.kill()
    receiver.hold.set()
    receiver.hold = None
    [row] = await WebhookDelivery.filter(webhook_id=hook)
    assert row.status is DeliveryStatus.PENDING
    await execute(
        "UPDATE webhooks SET claimed_until = claimed_until - INTERVAL '1 hour' WHERE id = $1",
        [hook],
    )
    # then the next server sends the same delivery again, and it is settled
    second = start()
    await second.ready()

    async def settled() -> bool:
        return (await WebhookDelivery.get(id=row.id)).status is DeliveryStatus.SUCCEEDED

    await until(settled, within=30, what="the delivery to be resent")
    assert receiver.ids() == [str(row.id)] * 2
    assert receiver.received[0].body == receiver.received[1].body
    assert (await WebhookDelivery.get(id=row.id)).attempts == 2
