"""A deleted segment leaves the segmentIds of the webhooks that named it (as it leaves the
flags that target it); a webhook left with none is disabled, never widened to every segment.
The webhooks that watched it still receive its last changes (the SEGMENT_DELETED exits, after
the changes before them), from a real receiver's side, then nothing more of it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from app.webhooks import queue
from app.webhooks.models import Webhook, WebhookDelivery
from tests.factories import Api, members, segment
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

LIST = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added removed userErrors { code } }
}
"""

DELETE_SEGMENT = "mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }"


async def _delete_segment(api: Api, segment_id: str) -> None:
    payload = (await api.query(DELETE_SEGMENT, {"id": segment_id}))["deleteSegment"]
    assert payload["userErrors"] == [] and payload["deletedId"] == segment_id


async def test_a_deleted_segment_leaves_the_webhooks_segment_ids(hooks: Api) -> None:
    # given a webhook of two segments, and one of every segment
    kept, gone = (await segment(hooks, "Kept"))["id"], (await segment(hooks, "Gone"))["id"]
    hook = await create(hooks, url="http://127.0.0.1:9/a", segmentIds=[kept, gone])
    every = await create(hooks, url="http://127.0.0.1:9/b")

    # when one of its segments is deleted
    await _delete_segment(hooks, gone)

    # then the webhook keeps the other one, still enabled, and every-segment stays so
    found = await webhook(hooks, hook["id"])
    assert found["segmentIds"] == [kept]
    assert found["enabled"] is True and found["disabledReason"] is None
    assert (await webhook(hooks, every["id"]))["segmentIds"] is None

    # and what it shows can be sent back as it is
    payload = (
        await hooks.query(UPDATE, {"id": hook["id"], "input": {"segmentIds": found["segmentIds"]}})
    )["updateWebhook"]
    assert payload["userErrors"] == []
    assert payload["webhook"]["segmentIds"] == [kept]


async def test_a_webhook_whose_only_segment_is_deleted_is_disabled_with_a_reason(
    hooks: Api,
) -> None:
    # given a webhook of one segment
    only = (await segment(hooks, "Only"))["id"]
    hook = await create(hooks, url="http://127.0.0.1:9/a", segmentIds=[only])

    # when that segment is deleted
    await _delete_segment(hooks, only)

    # then the webhook receives no segment (not every one) and is disabled, saying why
    found = await webhook(hooks, hook["id"])
    assert found["segmentIds"] == []
    assert found["enabled"] is False
    assert "deleted" in found["disabledReason"]

    # and it cannot be enabled again without naming segments
    payload = (await hooks.query(UPDATE, {"id": hook["id"], "input": {"enabled": True}}))[
        "updateWebhook"
    ]
    assert [e["code"] for e in payload["userErrors"]] == ["INVALID"]
    assert (await webhook(hooks, hook["id"]))["enabled"] is False

    # while naming one enables it
    other = (await segment(hooks, "Other"))["id"]
    payload = (
        await hooks.query(
            UPDATE, {"id": hook["id"], "input": {"enabled": True, "segmentIds": [other]}}
        )
    )["updateWebhook"]
    assert payload["userErrors"] == []
    assert payload["webhook"]["enabled"] is True
    assert payload["webhook"]["segmentIds"] == [other]
    assert payload["webhook"]["disabledReason"] is None


async def _list(api: Api, segment_id: str, *ids: str) -> None:
    input = {"segmentId": segment_id, "memberIds": list(ids), "mode": "ADD"}
    payload = (await api.query(LIST, {"input": input}))["updateSegmentMembers"]
    assert payload["userErrors"] == [] and payload["added"] == len(ids)


def _got(receiver: Receiver, webhook_id: str, hooks_by_delivery: dict[str, int]) -> list[Any]:
    """(segment, member, kind, cause) of every change the receiver got for one webhook."""
    return [
        (c["segmentId"], c["memberId"], c["kind"], c["cause"])
        for r in receiver.received
        if hooks_by_delivery[r.id] == int(webhook_id)
        for c in r.changes
    ]


async def _by_delivery(receiver: Receiver) -> dict[str, int]:
    rows = await WebhookDelivery.filter(id__in=[int(i) for i in receiver.ids()])
    return {str(d.id): d.webhook_id for d in rows}


async def _drained(webhook_id: str) -> Webhook | None:
    hook = await Webhook.get(id=int(webhook_id))
    pending = await WebhookDelivery.filter(webhook_id=hook.id, status="PENDING").exists()
    return hook if hook.draining_segment_ids is None and not pending else None


async def test_the_webhooks_that_watched_a_deleted_segment_receive_its_exits(
    hooks: Api, other_api: Api, receiver: Receiver, workers: Workers
) -> None:
    # given Gold with two members, Kept with one, Other with one; a webhook of Gold and
    # Kept, one of Gold only, and another site's webhook of every segment
    gold, kept, other = [(await segment(hooks, n))["id"] for n in ("Gold", "Kept", "Other")]
    both = await create(hooks, url=receiver.url, segmentIds=[gold, kept])
    only = await create(hooks, url=receiver.url, segmentIds=[gold])
    theirs = await create(
        Api(hooks.client, other_api.site, other_api.key, other_api.role), url=receiver.url
    )
    await members(hooks, "ann", "bob", "cy", "dan")
    await _list(hooks, gold, "ann", "bob")
    await _list(hooks, kept, "cy")
    await _list(hooks, other, "dan")

    # when Gold is deleted (no worker running yet: the exits wait behind the listings)
    await _delete_segment(hooks, gold)

    # then Gold left both webhooks' segmentIds, and is kept (hidden) until its exits go
    assert (await webhook(hooks, both["id"]))["segmentIds"] == [kept]
    found = await webhook(hooks, only["id"])
    assert (found["segmentIds"], found["enabled"], found["disabledReason"]) == ([], True, None)
    for made in (both, only):
        row = await Webhook.get(id=int(made["id"]))
        assert row.draining_segment_ids == [int(gold)] and row.draining_until is not None
    # and the other site's webhook is untouched
    assert (await Webhook.get(id=int(theirs["id"]))).draining_segment_ids is None

    # when a later change of Kept is recorded and the worker runs
    await _list(hooks, kept, "dan")
    workers()
    for made in (both, only):
        await until(lambda m=made: _drained(m["id"]), what="the exits to be delivered")

    # then each got Gold's listings, then its SEGMENT_DELETED exits, in order; the webhook of
    # Gold and Kept got Kept's changes too; neither got Other's
    by_delivery = await _by_delivery(receiver)
    listed = [(gold, "ann", "ENTERED", "LISTED"), (gold, "bob", "ENTERED", "LISTED")]
    exits = [(gold, "ann", "EXITED", "SEGMENT_DELETED"), (gold, "bob", "EXITED", "SEGMENT_DELETED")]
    assert _got(receiver, only["id"], by_delivery) == [*listed, *exits]
    assert _got(receiver, both["id"], by_delivery) == [
        *listed,
        (kept, "cy", "ENTERED", "LISTED"),
        *exits,
        (kept, "dan", "ENTERED", "LISTED"),
    ]
    # and the hidden list is cleared; the webhook of Gold only, with nothing left to send,
    # is disabled saying why (never widened to every segment), the other keeps going
    found = await webhook(hooks, only["id"])
    assert (found["segmentIds"], found["enabled"]) == ([], False)
    assert "deleted" in found["disabledReason"]
    found = await webhook(hooks, both["id"])
    assert (found["segmentIds"], found["enabled"], found["disabledReason"]) == ([kept], True, None)
    assert (await Webhook.get(id=int(both["id"]))).draining_until is None
    # and the other site's webhook got nothing
    assert set(by_delivery.values()) == {int(both["id"]), int(only["id"])}
    assert await WebhookDelivery.filter(webhook_id=int(theirs["id"])).count() == 0


async def test_exits_go_in_batches_and_after_a_failed_attempt_then_nothing_else(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook of Gold only, Gold with three members, and a receiver answering 500 first
    gold, other = (await segment(hooks, "Gold"))["id"], (await segment(hooks, "Other"))["id"]
    made = await create(hooks, url=receiver.url, segmentIds=[gold])
    await members(hooks, "ann", "bob", "cy")
    await _list(hooks, gold, "ann", "bob", "cy")
    await _delete_segment(hooks, gold)
    await _list(hooks, other, "ann")
    receiver.statuses.append(500)

    # when a worker (clock standing still, batches of two) sends: the first attempt fails
    clock = Clock()
    worker = workers(clock=clock, webhook_batch_size=2, webhook_retry_base_seconds=30)
    await until(lambda: receiver.received, what="the first attempt")
    hook = await until(lambda: _waiting(made["id"]), what="the failure to be recorded")
    # then Gold is still to deliver, and the webhook still on
    assert hook.draining_segment_ids == [int(gold)] and hook.enabled

    # when the retry is due: every batch goes, the failed one first under its id again
    clock.advance(seconds=60)
    worker.wake()
    await until(lambda: _drained(made["id"]), what="every batch to be delivered")
    ids = receiver.ids()
    assert ids[0] == ids[1] and receiver.received[0].body == receiver.received[1].body
    got = [(c["memberId"], c["kind"], c["cause"]) for r in receiver.received[1:] for c in r.changes]
    assert got == [
        *((m, "ENTERED", "LISTED") for m in ("ann", "bob", "cy")),
        *((m, "EXITED", "SEGMENT_DELETED") for m in ("ann", "bob", "cy")),
    ]
    assert [len(r.changes) for r in receiver.received] == [2, 2, 2, 2]
    found = await webhook(hooks, made["id"])
    assert [(d["status"], d["changeCount"]) for d in deliveries(found)] == [("SUCCEEDED", 2)] * 3
    assert found["enabled"] is False and found["segmentIds"] == []

    # and then nothing else: later changes are no work for it
    await record(hooks.site.id, other, ["later"])
    now = datetime.now(UTC)
    assert await queue.claim(now + timedelta(hours=1), now + timedelta(hours=2)) is None
    assert len(receiver.received) == 4


async def _waiting(webhook_id: str) -> Webhook | None:
    hook = await Webhook.get(id=int(webhook_id))
    return hook if hook.next_attempt_at is not None and hook.claimed_until is None else None


async def test_a_deleted_segment_with_nothing_past_the_cursor_is_not_kept(hooks: Api) -> None:
    # given Emptied, whose member entered and left before a webhook of it and Kept was made
    kept, emptied = (await segment(hooks, "Kept"))["id"], (await segment(hooks, "Emptied"))["id"]
    await members(hooks, "ann")
    await _list(hooks, emptied, "ann")
    input = {"segmentId": emptied, "memberIds": ["ann"], "mode": "DELETE"}
    assert (await hooks.query(LIST, {"input": input}))["updateSegmentMembers"]["removed"] == 1
    made = await create(hooks, url="http://127.0.0.1:9/hook", segmentIds=[kept, emptied])
    # when Emptied is deleted (no exit: it has no member; its changes are behind the cursor)
    await _delete_segment(hooks, emptied)
    # then no deleted segment is kept for it: it has nothing of it to deliver
    hook = await Webhook.get(id=int(made["id"]))
    assert (hook.segment_ids, hook.draining_segment_ids, hook.draining_until) == (
        [int(kept)],
        None,
        None,
    )
