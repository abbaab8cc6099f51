"""Deliveries to a real HTTP receiver: signed the Standard Webhooks way, in batches in order,
retried after a failure under the same webhook-id, sent at least once across a worker's crash,
disabled after failing too long, and only ever a site's own changes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook as Verifier

from app.auth.models import Role
from app.changes.models import ChangeCause, ChangeKind
from app.webhooks import queue
from app.webhooks.models import DeliveryStatus, Webhook, WebhookDelivery
from tests.factories import Api, make_api, members, segment
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


async def _hook(api: Api, receiver: Receiver, **input: Any) -> dict[str, Any]:
    return await create(api, url=receiver.url, **input)


async def test_a_batch_is_signed_and_carries_the_changes(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook on every segment, and changes of two segments after it was made
    gold, vip = await segment(hooks, "Gold"), await segment(hooks, "VIP")
    made = await _hook(hooks, receiver)
    gold_last = await record(hooks.site.id, gold["id"], ["m-1", "m-2"])
    last = await record(
        hooks.site.id, vip["id"], ["m-1"], kind=ChangeKind.EXITED, cause=ChangeCause.RULE_CHANGED
    )
    # when the worker runs
    workers()
    await until(lambda: receiver.received, what="a delivery")
    got = receiver.received[0]
    # then the signature verifies with the secret, by the reference verifier and by hand
    assert Verifier(made["secret"]).verify(got.body, got.headers) is not None
    key = base64.b64decode(made["secret"].removeprefix("whsec_"))
    signed = f"{got.id}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == f"v1,{expected}"
    assert Verifier(made["secret"]).verify(got.body, got.headers) == {
        "type": "segment.membership.changed",
        "data": {"changes": got.changes},
    }
    with pytest.raises(Exception, match="signature"):
        Verifier("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(got.body, got.headers)
    assert got.headers["content-type"] == "application/json"
    # and the body holds each change with the fields of MembershipChange, in the API's forms
    assert [
        (c["id"], c["segmentId"], c["memberId"], c["kind"], c["cause"]) for c in got.changes
    ] == [
        (str(gold_last - 1), gold["id"], "m-1", "ENTERED", "LISTED"),
        (str(gold_last), gold["id"], "m-2", "ENTERED", "LISTED"),
        (str(last), vip["id"], "m-1", "EXITED", "RULE_CHANGED"),
    ]
    assert all(c["at"].endswith("+00:00") for c in got.changes)
    # and the delivery, named by the webhook-id header, SUCCEEDED
    found = await until(lambda: _settled(hooks, made["id"]), what="the delivery to be settled")
    [delivery] = deliveries(found)
    assert delivery["id"] == got.id
    assert (delivery["status"], delivery["attempts"], delivery["changeCount"]) == (
        "SUCCEEDED",
        1,
        3,
    )
    assert delivery["responseStatus"] == 200 and delivery["deliveredAt"] is not None


async def _settled(api: Api, webhook_id: str) -> dict[str, Any] | None:
    # by the edges: totalCount is counted after them, and a delivery may come in between
    found = await webhook(api, webhook_id)
    ds = deliveries(found)
    return found if ds and all(d["status"] != "PENDING" for d in ds) else None


async def test_a_new_webhook_starts_at_the_end_of_the_record_and_keeps_to_its_segments(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given changes recorded before the webhook was made
    gold, vip = await segment(hooks, "Gold"), await segment(hooks, "VIP")
    await record(hooks.site.id, gold["id"], ["before-1", "before-2"])
    made = await _hook(hooks, receiver, segmentIds=[gold["id"]])
    # when changes of its segment and of another are recorded
    await record(hooks.site.id, vip["id"], ["other"])
    await record(hooks.site.id, gold["id"], ["after"])
    workers()
    await until(lambda: _settled(hooks, made["id"]), what="the delivery")
    # then it received only the change of its segment made after it
    assert [c["memberId"] for r in receiver.received for c in r.changes] == ["after"]


async def test_a_change_of_a_segment_not_watched_is_no_work_for_the_claim(hooks: Api) -> None:
    # given a webhook of Gold, and a change of VIP recorded after it was made
    gold, vip = await segment(hooks, "Gold"), await segment(hooks, "VIP")
    made = await create(hooks, url="http://127.0.0.1:9/hook", segmentIds=[gold["id"]])
    await record(hooks.site.id, vip["id"], ["other"])
    now = datetime.now(UTC)
    # then no worker claims it
    assert await queue.claim(now, now + timedelta(seconds=30)) is None
    # and once a change of Gold is recorded, one does
    await record(hooks.site.id, gold["id"], ["mine"])
    claimed = await queue.claim(now, now + timedelta(seconds=30))
    assert claimed is not None and claimed.id == int(made["id"])


async def test_a_failed_attempt_is_retried_under_the_same_id(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a receiver that answers 500, then 503, then 200
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    receiver.statuses.extend([500, 503])
    await record(hooks.site.id, seg["id"], ["m-1", "m-2"])
    workers()
    found = await until(lambda: _settled(hooks, made["id"]), what="the delivery")
    # then the same delivery was sent three times, the same body under the same id
    assert len(receiver.received) == 3
    assert len(set(receiver.ids())) == 1
    assert len({r.body for r in receiver.received}) == 1
    [delivery] = deliveries(found)
    assert (delivery["id"], delivery["status"], delivery["attempts"]) == (
        receiver.ids()[0],
        "SUCCEEDED",
        3,
    )
    assert (delivery["responseStatus"], delivery["error"]) == (200, None)
    assert found["enabled"] is True


async def test_a_failure_is_recorded_and_retried_later(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a worker on a clock that stands still, and a receiver that answers 500
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    receiver.statuses.extend([500, 500])
    await record(hooks.site.id, seg["id"], ["m-1"])
    clock = Clock()
    worker = workers(clock=clock, webhook_retry_base_seconds=30, webhook_retry_max_seconds=3600)
    await until(lambda: receiver.received, what="the first attempt")
    # then the delivery stays PENDING with the answer, and no retry comes before it is due
    found = await until(
        lambda: _first_failed(hooks, made["id"]), what="the failed attempt to be recorded"
    )
    delivery = deliveries(found)[0]
    assert (delivery["status"], delivery["attempts"], delivery["responseStatus"]) == (
        "PENDING",
        1,
        500,
    )
    assert delivery["error"] == "HTTP 500: nope"
    hook = await Webhook.get(id=int(made["id"]))
    assert hook.next_attempt_at is not None and hook.failing_since == clock.now
    # the first retry comes within WEBHOOK_RETRY_BASE_SECONDS
    wait = (hook.next_attempt_at - clock.now).total_seconds()
    assert 15 <= wait <= 30
    worker.wake()
    await asyncio.sleep(0)
    assert len(receiver.received) == 1
    # when its time comes
    clock.advance(seconds=30)
    worker.wake()
    await until(lambda: len(receiver.received) == 2, what="the retry")
    # then it is sent again, and the next wait is longer (exponential backoff: 30 to 60 s)
    hook = await until(lambda: _waiting_after(made["id"], clock), what="the second failure")
    assert 30 <= (hook.next_attempt_at - clock.now).total_seconds() <= 60


async def _waiting_after(webhook_id: str, clock: Clock) -> Webhook | None:
    hook = await Webhook.get(id=int(webhook_id))
    return hook if hook.next_attempt_at and hook.next_attempt_at > clock.now else None


async def _first_failed(api: Api, webhook_id: str) -> dict[str, Any] | None:
    return await _attempted(api, webhook_id, 1)


async def _attempted(api: Api, webhook_id: str, attempts: int) -> dict[str, Any] | None:
    """The webhook once its delivery's attempts-th attempt is settled (the count goes up as an
    attempt begins; the claim is let go as it is settled)."""
    hook = await Webhook.get(id=int(webhook_id))  # first: the deliveries read after it are newer
    found = await webhook(api, webhook_id)
    ds = deliveries(found)
    if ds and ds[0]["attempts"] == attempts and hook.claimed_until is None:
        return found
    return None


async def test_batches_go_in_order_each_after_the_previous_succeeded(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given batches of 2, and 7 changes recorded in three writes
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    await record(hooks.site.id, seg["id"], ["a", "b", "c"])
    await record(hooks.site.id, seg["id"], ["d", "e"])
    await record(hooks.site.id, seg["id"], ["f", "g"])
    # and a receiver that refuses the first attempt of the second batch
    receiver.statuses.extend([200, 500])
    workers(webhook_batch_size=2)
    found = await until(
        lambda: _count_succeeded(hooks, made["id"], 4), what="every batch to succeed"
    )
    # then the batches came in the order of the record, the refused one again before the next
    ids = receiver.ids()
    assert len(ids) == 5 and ids[1] == ids[2] and len(set(ids)) == 4
    assert [[c["memberId"] for c in r.changes] for r in receiver.received] == [
        ["a", "b"],
        ["c", "d"],
        ["c", "d"],
        ["e", "f"],
        ["g"],
    ]
    assert [int(i) for i in dict.fromkeys(ids)] == sorted(int(i) for i in set(ids))
    assert [d["changeCount"] for d in deliveries(found)] == [2, 2, 2, 1]
    assert found["deliveries"]["totalCount"] == 4
    # and the deliveries page newest first, by cursor
    first = (await hooks.query(PAGE, {"id": made["id"], "after": None}))["webhook"]["deliveries"]
    rest = (await hooks.query(PAGE, {"id": made["id"], "after": first["pageInfo"]["endCursor"]}))[
        "webhook"
    ]["deliveries"]
    paged = [e["node"]["id"] for e in first["edges"] + rest["edges"]]
    assert paged == [d["id"] for d in reversed(deliveries(found))]
    assert (first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)
    assert (first["totalCount"], rest["totalCount"]) == (4, 4)


PAGE = """
query($id: ID!, $after: String) {
  webhook(id: $id) {
    deliveries(first: 2, after: $after) {
      totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def _count_succeeded(api: Api, webhook_id: str, n: int) -> dict[str, Any] | None:
    found = await webhook(api, webhook_id, "SUCCEEDED")
    return found if len(deliveries(found)) == n else None


async def test_a_worker_killed_mid_send_is_replaced_and_the_same_id_goes_again(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a receiver that holds its answer to the first request
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    await record(hooks.site.id, seg["id"], ["m-1", "m-2"])
    receiver.hold = asyncio.Event()
    first = workers()
    await until(lambda: receiver.received, what="the first attempt to arrive")
    # when the worker dies while the receiver has the request (no answer recorded)
    await first.abort()
    receiver.hold.set()
    receiver.hold = None
    [delivery] = await WebhookDelivery.filter(webhook_id=int(made["id"]))
    assert delivery.status is DeliveryStatus.PENDING
    # then a new worker (another process, once the dead one's claim has run out) sends the
    # same delivery again: same id, same body
    later = Clock()
    later.advance(seconds=11)  # past WEBHOOK_CLAIM_TIMEOUT_SECONDS (10 here)
    workers(clock=later)
    found = await until(lambda: _settled(hooks, made["id"]), what="the delivery to be resent")
    assert len(receiver.received) == 2
    assert receiver.ids() == [str(delivery.id)] * 2
    assert receiver.received[0].body == receiver.received[1].body
    [settled] = deliveries(found)
    assert (settled["status"], settled["attempts"]) == ("SUCCEEDED", 2)


async def test_a_worker_killed_after_writing_the_delivery_sends_it_after_restart(
    hooks: Api, receiver: Receiver, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a worker that dies after the delivery row is committed, before anything is sent
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    await record(hooks.site.id, seg["id"], ["m-1"])
    written = asyncio.Event()
    changes = queue.changes

    async def stuck(delivery: queue.Delivery) -> list[queue.ChangeRow]:
        written.set()
        await asyncio.Event().wait()  # until killed
        return await changes(delivery)

    monkeypatch.setattr(queue, "changes", stuck)
    first = workers()
    await asyncio.wait_for(written.wait(), 10)
    await first.abort()
    monkeypatch.setattr(queue, "changes", changes)
    [row] = await WebhookDelivery.filter(webhook_id=int(made["id"]))
    assert receiver.received == []
    # when a worker starts again after the claim has run out
    later = Clock()
    later.advance(seconds=11)
    workers(clock=later)
    await until(lambda: _settled(hooks, made["id"]), what="the delivery")
    # then the delivery written before the crash is the one sent, once
    assert receiver.ids() == [str(row.id)]
    assert [c["memberId"] for c in receiver.received[0].changes] == ["m-1"]


async def test_failing_past_the_window_disables_the_webhook_until_enabled_again(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a receiver that fails, and a clock the test moves
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    receiver.statuses.extend([500] * 3)
    await record(hooks.site.id, seg["id"], ["m-1", "m-2"])
    clock = Clock()
    worker = workers(clock=clock, webhook_max_failure_hours=24)
    await until(lambda: _attempted(hooks, made["id"], 1), what="the first failure")
    # when it has still failed 23 hours later, it is kept
    clock.advance(hours=23)
    worker.wake()
    found = await until(lambda: _attempted(hooks, made["id"], 2), what="the second failure")
    assert found["enabled"] is True and found["disabledReason"] is None
    # and when it fails again past 24 hours, it is disabled with the reason visible
    clock.advance(hours=1, seconds=1)
    worker.wake()
    found = await until(lambda: _disabled(hooks, made["id"]), what="the webhook to be disabled")
    assert "WEBHOOK_MAX_FAILURE_HOURS=24" in found["disabledReason"]
    assert "HTTP 500" in found["disabledReason"]
    [failed] = deliveries(found)
    assert (failed["status"], failed["attempts"]) == ("FAILED", 3)
    # and nothing more is sent to it, even for new changes
    await record(hooks.site.id, seg["id"], ["m-3"])
    clock.advance(hours=1)
    worker.wake()
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 3
    # when an admin enables it again
    payload = (await hooks.query(UPDATE, {"id": made["id"], "input": {"enabled": True}}))[
        "updateWebhook"
    ]
    assert (payload["webhook"]["enabled"], payload["webhook"]["disabledReason"]) == (True, None)
    # then the failed batch goes again (under a new id), then what came since
    found = await until(lambda: _count_succeeded(hooks, made["id"], 1), what="the resend")
    resent = receiver.received[3]
    assert resent.id != failed["id"]
    assert [c["memberId"] for r in receiver.received[3:] for c in r.changes] == [
        "m-1",
        "m-2",
        "m-3",
    ]


async def _disabled(api: Api, webhook_id: str) -> dict[str, Any] | None:
    found = await webhook(api, webhook_id)
    return found if not found["enabled"] else None


async def test_a_webhook_never_receives_another_sites_changes(
    hooks: Api, other_api: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook of each site, on every segment
    mine = await _hook(hooks, receiver)
    theirs_seg = await segment(other_api, "Theirs")
    other = await other_api.with_role(Role.ADMIN)
    assert other.site.id != hooks.site.id
    # when only the other site records changes
    await record(other_api.site.id, theirs_seg["id"], ["x-1", "x-2"])
    seg = await segment(hooks, "Mine")
    await record(hooks.site.id, seg["id"], ["m-1"])
    workers()
    await until(lambda: _settled(hooks, mine["id"]), what="this site's delivery")
    # then this site's receiver got this site's change only
    assert [c["memberId"] for r in receiver.received for c in r.changes] == ["m-1"]


async def test_several_workers_send_each_batch_once_and_in_order(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given changes for three webhooks, in batches of 3
    seg = await segment(hooks, "Gold")
    made = [await _hook(hooks, receiver, description=f"h{i}") for i in range(3)]
    for n in range(4):
        await record(hooks.site.id, seg["id"], [f"m-{n}-{i}" for i in range(5)])
    # when three workers (as three processes would) run at once
    for _ in range(3):
        workers(webhook_batch_size=3)
    for m in made:
        await until(lambda m=m: _all_sent(hooks, m["id"], 20), what="every change", within=20)
    # then each delivery went out once, and each webhook got every change once, in order
    assert len(receiver.ids()) == len(set(receiver.ids()))
    by_hook: dict[str, list[str]] = {}
    for r in receiver.received:
        row = await WebhookDelivery.get(id=int(r.id))
        by_hook.setdefault(str(row.webhook_id), []).extend(c["memberId"] for c in r.changes)
    expected = [f"m-{n}-{i}" for n in range(4) for i in range(5)]
    assert by_hook == {m["id"]: expected for m in made}


async def _all_sent(api: Api, webhook_id: str, n: int) -> bool:
    found = await webhook(api, webhook_id, "SUCCEEDED")
    return sum(d["changeCount"] for d in deliveries(found)) == n


async def test_the_app_runs_the_worker_woken_by_a_committed_change(
    hook_app: Any, receiver: Receiver
) -> None:
    # given a server with its webhook worker, polling rarely: a change must wake it
    async with hook_app(webhook_worker=True, webhook_poll_seconds=60) as server:
        seg = await segment(server, "Gold")
        made = await _hook(server, receiver)
        await asyncio.sleep(0.1)  # the worker has looked once and found nothing
        # when a change is committed
        await record(server.site.id, seg["id"], ["m-1"])
        # then it is delivered without waiting for the poll
        await until(lambda: receiver.received, what="the delivery", within=10)
        assert [c["memberId"] for c in receiver.received[0].changes] == ["m-1"]
        await until(lambda: _settled(server, made["id"]), what="the delivery to settle")


async def test_sending_time_refuses_an_address_that_became_private(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook saved while private networks were allowed
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    await record(hooks.site.id, seg["id"], ["m-1"])
    # when a worker that does not allow them sends
    workers(webhook_allow_private_networks=False, webhook_retry_base_seconds=60)
    found = await until(lambda: _attempted_error(hooks, made["id"]), what="the refusal")
    # then nothing reached the receiver, and the delivery says why
    assert receiver.received == []
    assert "loopback" in deliveries(found)[0]["error"]
    assert deliveries(found)[0]["status"] == "PENDING"


async def _attempted_error(api: Api, webhook_id: str) -> dict[str, Any] | None:
    found = await webhook(api, webhook_id)
    ds = deliveries(found)
    return found if ds and ds[0]["error"] else None


async def test_settled_deliveries_past_retention_are_pruned(hooks: Api, receiver: Receiver) -> None:
    # given an old settled delivery, an old pending one and a recent settled one
    made = await _hook(hooks, receiver)
    clock = Clock()
    old = clock.now - timedelta(days=91)
    common = {"site_id": hooks.site.id, "webhook_id": int(made["id"]), "change_count": 1}
    gone = await WebhookDelivery.create(
        **common, after_change=0, last_change=1, status=DeliveryStatus.SUCCEEDED, created_at=old
    )
    waiting = await WebhookDelivery.create(
        **common, after_change=1, last_change=2, status=DeliveryStatus.PENDING, created_at=old
    )
    recent = await WebhookDelivery.create(
        **common, after_change=2, last_change=3, status=DeliveryStatus.FAILED, created_at=clock.now
    )
    # when the worker prunes what is older than the retention (90 days)
    assert await queue.prune(before=clock.now - timedelta(days=90)) == 1
    # then only the old settled one is gone
    left = set(await WebhookDelivery.all().values_list("id", flat=True))
    assert left == {waiting.id, recent.id} and gone.id not in left


async def test_a_slow_receiver_does_not_hold_up_a_write(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a receiver that does not answer
    seg = await segment(hooks, "Gold")
    await _hook(hooks, receiver)
    receiver.hold = asyncio.Event()
    await record(hooks.site.id, seg["id"], ["m-1"])
    workers()
    await until(lambda: receiver.received, what="the stuck send")
    # when more changes are written, and other sites go on
    last = await record(hooks.site.id, seg["id"], ["m-2", "m-3"])
    other = await make_api(hooks.client, slug="initech")
    await segment(other, "Theirs")
    # then the writes committed while the send is still in hand
    assert last > 0 and len(receiver.received) == 1
    receiver.hold.set()


async def test_metrics_show_the_queue_and_the_outcomes(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a webhook behind the record (no worker yet), then a delivery that succeeds
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    await record(hooks.site.id, seg["id"], ["m-1"])
    before = (await hooks.client.get("/metrics")).text
    assert "segments_webhooks_behind 1.0" in before
    workers()
    await until(lambda: _settled(hooks, made["id"]), what="the delivery")
    # then /metrics counts it by status, and nothing is behind any more
    text = (await hooks.client.get("/metrics")).text
    assert 'segments_webhook_deliveries{status="SUCCEEDED"} 1.0' in text
    assert "segments_webhooks_behind 0.0" in text
    assert 'segments_webhook_attempts_total{outcome="succeeded"}' in text


LIST = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added removed userErrors { code } }
}
"""


async def test_membership_mutations_reach_the_webhook_as_they_are_recorded(
    hook_app: Any, receiver: Receiver
) -> None:
    # given a server with its worker, a webhook on one segment, and members
    async with hook_app(webhook_worker=True) as server:
        gold, vip = await segment(server, "Gold"), await segment(server, "VIP")
        made = await _hook(server, receiver, segmentIds=[gold["id"]])
        await members(server, "ann", "bob")
        # when members are listed, one is unlisted, and another segment changes too
        for input in (
            {"segmentId": gold["id"], "memberIds": ["ann", "bob"], "mode": "ADD"},
            {"segmentId": vip["id"], "memberIds": ["ann"], "mode": "ADD"},
            {"segmentId": gold["id"], "memberIds": ["bob"], "mode": "DELETE"},
        ):
            payload = (await server.query(LIST, {"input": input}))["updateSegmentMembers"]
            assert payload["userErrors"] == []
        await until(lambda: _changes_received(receiver, 3), what="three changes")
        await until(lambda: _settled(server, made["id"]), what="the deliveries to settle")
    # then the webhook got the changes of its segment, as the record has them, in order
    got = [
        (c["segmentId"], c["memberId"], c["kind"], c["cause"])
        for r in receiver.received
        for c in r.changes
    ]
    assert got == [
        (gold["id"], "ann", "ENTERED", "LISTED"),
        (gold["id"], "bob", "ENTERED", "LISTED"),
        (gold["id"], "bob", "EXITED", "UNLISTED"),
    ]


def _changes_received(receiver: Receiver, n: int) -> bool:
    return sum(len(r.changes) for r in receiver.received) >= n


async def test_a_webhook_switched_off_by_hand_keeps_its_batch_for_when_it_is_on_again(
    hooks: Api, receiver: Receiver, workers: Workers
) -> None:
    # given a delivery that failed once and waits for its retry
    seg = await segment(hooks, "Gold")
    made = await _hook(hooks, receiver)
    receiver.statuses.append(500)
    await record(hooks.site.id, seg["id"], ["m-1"])
    clock = Clock()
    worker = workers(clock=clock)
    await until(lambda: _attempted(hooks, made["id"], 1), what="the first failure")
    # when an admin switches it off, and its retry comes due
    off = await hooks.query(UPDATE, {"id": made["id"], "input": {"enabled": False}})
    assert off["updateWebhook"]["webhook"]["enabled"] is False
    clock.advance(hours=1)
    worker.wake()
    await asyncio.sleep(0.2)
    # then nothing is sent, and the delivery waits, PENDING
    assert len(receiver.received) == 1
    assert [d["status"] for d in deliveries(await webhook(hooks, made["id"]))] == ["PENDING"]
    # when it is switched on again, the same delivery goes, with the same id
    await hooks.query(UPDATE, {"id": made["id"], "input": {"enabled": True}})
    found = await until(lambda: _settled(hooks, made["id"]), what="the delivery")
    assert receiver.ids() == [deliveries(found)[0]["id"]] * 2
    assert deliveries(found)[0]["status"] == "SUCCEEDED"
