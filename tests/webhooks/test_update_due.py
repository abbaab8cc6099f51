"""A webhook fixed by updateWebhook (a new url) sends its PENDING delivery at once, under the
same webhook-id, rather than after the backoff its broken url had earned."""

from __future__ import annotations

from typing import Any

from app.webhooks.models import Webhook
from tests.factories import Api, segment
from tests.processes import free_port
from tests.webhooks.conftest import (
    UPDATE,
    Clock,
    Receiver,
    Workers,
    create,
    deliveries,
    record,
    until,
    webhook,
)


async def _waiting(webhook_id: str, clock: Clock) -> Webhook | None:
    """The webhook once an attempt failed and it waits to retry, unclaimed."""
    hook = await Webhook.get(id=int(webhook_id))
    if hook.claimed_until is not None or hook.next_attempt_at is None:
        return None
    return hook if hook.next_attempt_at > clock.now else None


async def _succeeded(api: Api, webhook_id: str) -> dict[str, Any] | None:
    ds = deliveries(await webhook(api, webhook_id))
    return ds[0] if ds and ds[0]["status"] == "SUCCEEDED" else None


async def test_a_new_url_makes_the_pending_delivery_due_now(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook whose url answers nothing (no server on that port), its delivery
    # failed and waiting out a backoff of at least half an hour, on a clock that stands still
    gold = await segment(hooks, "Gold")
    made = await create(hooks, url=f"http://127.0.0.1:{free_port()}/hook", segmentIds=[gold["id"]])
    await record(hooks.site.id, gold["id"], ["m-1"])
    clock = Clock()
    workers(clock=clock, webhook_retry_base_seconds=3600, webhook_retry_max_seconds=3600)
    hook = await until(lambda: _waiting(made["id"], clock), what="the failed attempt")
    assert (hook.next_attempt_at - clock.now).total_seconds() >= 1800
    [pending] = deliveries(await webhook(hooks, made["id"]))
    assert (pending["status"], pending["attempts"]) == ("PENDING", 1)
    # when the url is changed to a working receiver
    data = await hooks.query(UPDATE, {"id": made["id"], "input": {"url": receiver.url}})
    assert data["updateWebhook"]["userErrors"] == []
    # then the pending delivery is sent now (the clock has not moved), under its id
    done = await until(lambda: _succeeded(hooks, made["id"]), what="the delivery")
    assert done["id"] == pending["id"] and done["attempts"] == 2
    assert receiver.ids() == [pending["id"]]
    assert [c["memberId"] for c in receiver.received[0].changes] == ["m-1"]
