"""The record's pruning and the webhooks: what an enabled webhook still owes (past its cursor,
or in its PENDING delivery, whose every attempt carries the same body) is never pruned; what
was pruned anyway (the webhook was disabled meanwhile) is never sent empty or in part: the
batch is FAILED with the pruned range as its error, and the changes after it go on."""

from __future__ import annotations

from typing import Any

from app.changes import sweeper
from app.webhooks.models import Webhook
from tests.factories import Api, segment
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


async def _attempted(api: Api, webhook_id: str, attempts: int) -> dict[str, Any] | None:
    """The webhook once its first delivery's attempts-th attempt is settled."""
    hook = await Webhook.get(id=int(webhook_id))  # first: the deliveries read after it are newer
    found = await webhook(api, webhook_id)
    ds = deliveries(found)
    if ds and ds[0]["attempts"] == attempts and hook.claimed_until is None:
        return found
    return None


async def _all_settled(api: Api, webhook_id: str, count: int) -> list[dict[str, Any]] | None:
    ds = deliveries(await webhook(api, webhook_id))
    if len(ds) >= count and all(d["status"] != "PENDING" for d in ds):
        return ds
    return None


async def _enabled(api: Api, webhook_id: str, enabled: bool) -> None:
    data = await api.query(UPDATE, {"id": webhook_id, "input": {"enabled": enabled}})
    assert data["updateWebhook"]["userErrors"] == []


async def test_a_pending_delivery_keeps_its_changes_through_a_prune(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook sent batches of 2, whose receiver answers 500 to the first attempt
    gold, other = await segment(hooks, "Gold"), await segment(hooks, "Other")
    made = await create(hooks, url=receiver.url, segmentIds=[gold["id"]])
    receiver.statuses.append(500)
    await record(hooks.site.id, gold["id"], ["m-1", "m-2", "m-3", "m-4", "m-5"])
    await record(hooks.site.id, other["id"], ["x-1"])  # a segment no webhook watches
    clock = Clock()
    worker = workers(
        clock=clock,
        webhook_batch_size=2,
        webhook_retry_base_seconds=30,
        webhook_retry_max_seconds=30,
    )
    await until(lambda: _attempted(hooks, made["id"], 1), what="the failed first attempt")
    # when the sweeper prunes every record older than now (MEMBERSHIP_HISTORY_DAYS=0)
    swept = await sweeper.sweep(history_days=0)
    # then only the unwatched segment's change went: the webhook still owes the others
    assert swept.pruned == 1
    # and when the retry comes (the receiver answers 200 from now on)
    clock.advance(seconds=60)
    worker.wake()
    ds = await until(lambda: _all_settled(hooks, made["id"], 3), what="every batch delivered")
    # then every attempt of a webhook-id carried the same changes, none of them empty
    by_id: dict[str, list[list[str]]] = {}
    for got in receiver.received:
        by_id.setdefault(got.id, []).append([c["memberId"] for c in got.changes])
    first = by_id[ds[0]["id"]]
    assert first == [["m-1", "m-2"], ["m-1", "m-2"]]
    assert all(bodies and all(b == bodies[0] and b for b in bodies) for bodies in by_id.values())
    # and all five changes arrived, in order, each batch SUCCEEDED with its count
    delivered = [bodies[0] for _, bodies in sorted(by_id.items(), key=lambda kv: int(kv[0]))]
    assert [m for batch in delivered for m in batch] == ["m-1", "m-2", "m-3", "m-4", "m-5"]
    assert [(d["status"], d["changeCount"]) for d in ds] == [
        ("SUCCEEDED", 2),
        ("SUCCEEDED", 2),
        ("SUCCEEDED", 1),
    ]


async def test_changes_past_an_enabled_webhooks_cursor_are_kept(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given changes recorded while no worker ran: the webhook's cursor is before them
    gold = await segment(hooks, "Gold")
    made = await create(hooks, url=receiver.url, segmentIds=[gold["id"]])
    await record(hooks.site.id, gold["id"], ["m-1", "m-2"])
    # when everything older than now is pruned
    swept = await sweeper.sweep(history_days=0)
    # then nothing went, and the worker delivers both changes
    assert swept.pruned == 0
    workers()
    ds = await until(lambda: _all_settled(hooks, made["id"], 1), what="the delivery")
    assert [(d["status"], d["changeCount"]) for d in ds] == [("SUCCEEDED", 2)]
    assert [c["memberId"] for c in receiver.received[0].changes] == ["m-1", "m-2"]


async def test_changes_pruned_while_disabled_are_a_failed_delivery_not_an_empty_one(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook switched off, and changes recorded meanwhile, then pruned
    gold = await segment(hooks, "Gold")
    made = await create(hooks, url=receiver.url, segmentIds=[gold["id"]])
    await _enabled(hooks, made["id"], False)
    first = (await Webhook.get(id=int(made["id"]))).cursor
    lost = await record(hooks.site.id, gold["id"], ["m-1", "m-2", "m-3"])
    assert (await sweeper.sweep(history_days=0)).pruned == 3
    later = await record(hooks.site.id, gold["id"], ["m-4"])
    # when it is switched on again
    await _enabled(hooks, made["id"], True)
    workers()
    ds = await until(lambda: _all_settled(hooks, made["id"], 2), what="both deliveries")
    # then the pruned range is a FAILED delivery that says so, and nothing of it was sent
    gone, sent = ds
    assert (gone["status"], gone["attempts"], gone["changeCount"]) == ("FAILED", 0, 0)
    assert f"changes after {first} up to {lost} were pruned" in gone["error"]
    # and the change after it is delivered; no body was empty
    assert (sent["status"], sent["changeCount"]) == ("SUCCEEDED", 1)
    assert [[c["id"] for c in r.changes] for r in receiver.received] == [[str(later)]]
    hook = await Webhook.get(id=int(made["id"]))
    assert hook.enabled and hook.cursor == later


async def test_a_pending_delivery_pruned_while_disabled_fails_and_the_rest_goes_on(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook whose first batch (2 of 3 changes) failed once and is PENDING
    gold = await segment(hooks, "Gold")
    made = await create(hooks, url=receiver.url, segmentIds=[gold["id"]])
    receiver.statuses.append(500)
    start = (await Webhook.get(id=int(made["id"]))).cursor
    last = await record(hooks.site.id, gold["id"], ["m-1", "m-2", "m-3"])
    clock = Clock()
    workers(clock=clock, webhook_batch_size=2, webhook_retry_base_seconds=30)
    await until(lambda: _attempted(hooks, made["id"], 1), what="the failed first attempt")
    # when it is switched off by hand, its changes are pruned, and it is switched on again
    await _enabled(hooks, made["id"], False)
    assert (await sweeper.sweep(history_days=0)).pruned == 3
    later = await record(hooks.site.id, gold["id"], ["m-4"])
    await _enabled(hooks, made["id"], True)
    ds = await until(lambda: _all_settled(hooks, made["id"], 3), what="the deliveries")
    # then the pending delivery is FAILED, naming what was pruned, and never sent again
    pending, gap, sent = ds
    assert pending["status"] == "FAILED" and pending["attempts"] == 1
    assert f"changes after {start} up to {last - 1} were pruned" in pending["error"]
    assert len(receiver.received) == 2
    assert [c["memberId"] for c in receiver.received[0].changes] == ["m-1", "m-2"]
    # and the third change, pruned too, is told by a FAILED delivery of its own
    assert gap["status"] == "FAILED" and f"up to {last} were pruned" in gap["error"]
    # and the change recorded since is delivered
    assert (sent["status"], sent["changeCount"]) == ("SUCCEEDED", 1)
    assert [c["id"] for c in receiver.received[1].changes] == [str(later)]
