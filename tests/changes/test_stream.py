"""The membershipChanges subscription through a real WebSocket client (httpx-ws) on the ASGI
app: changes as they commit, in order, read from the database after the subscriber's last one
(so a subscriber whose queue overflowed still gets every change), one segment's only when
asked, never another site's, never a rolled-back change. On PostgreSQL every message goes
through NOTIFY and this process's listener."""

from __future__ import annotations

from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.changes.models import ChangeKind
from app.changes.record import TOPIC, lock_site, write
from app.live.broker import broker
from tests.changes.records import changes, record
from tests.factories import Api, members, segment
from tests.live.support import GraphQLWs, asgi_ws, subscribed

STREAM = """
subscription($segmentId: ID) {
  membershipChanges(segmentId: $segmentId) { id segmentId memberId kind cause at }
}
"""


async def _change(ws: GraphQLWs, within: float = 10) -> dict[str, Any]:
    message = await ws.message(within)
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    change: dict[str, Any] = message["payload"]["data"]["membershipChanges"]
    return change


async def test_changes_arrive_in_commit_order_from_the_moment_of_subscribing(
    app: Any, api: Api
) -> None:
    # given a change committed before anyone subscribed
    await record(api.site.id, changes(7, ["before"]))
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM, {})
        await subscribed(TOPIC, api.site.id)

        # when two commits follow
        await record(api.site.id, changes(7, ["a", "b"]))
        await record(api.site.id, changes(8, ["a"], ChangeKind.EXITED))

        # then the subscriber gets each of them once, in order, and nothing from before
        got = [await _change(ws) for _ in range(3)]
        assert [(c["segmentId"], c["memberId"], c["kind"], c["cause"]) for c in got] == [
            ("7", "a", "ENTERED", "LISTED"),
            ("7", "b", "ENTERED", "LISTED"),
            ("8", "a", "EXITED", "UNLISTED"),
        ]
        assert await ws.nothing_within(0.3)


async def test_one_segments_changes_only_and_none_of_another_site(
    app: Any, api: Api, other_api: Api
) -> None:
    vip = (await segment(api, "VIP"))["id"]
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM, {"segmentId": vip})
        await subscribed(TOPIC, api.site.id)

        # when changes of another segment, of another site, then of this one commit
        await record(api.site.id, changes(int(vip) + 1000, ["elsewhere"]))
        await record(other_api.site.id, changes(int(vip), ["secret"]))
        await record(api.site.id, changes(int(vip), ["mine"]))

        # then only this segment's change of this site arrives
        got = await _change(ws)
        assert (got["segmentId"], got["memberId"]) == (vip, "mine")
        assert await ws.nothing_within(0.3)


async def test_another_sites_segment_cannot_be_subscribed_to(
    app: Any, api: Api, other_api: Api
) -> None:
    theirs = (await segment(other_api, "Theirs"))["id"]
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM, {"segmentId": theirs})
        message = await ws.message()
        assert message["type"] == "next", message
        assert message["payload"]["data"] is None
        assert message["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_a_rolled_back_change_is_never_streamed(app: Any, api: Api) -> None:
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM, {})
        await subscribed(TOPIC, api.site.id)

        with pytest.raises(RuntimeError):
            async with in_transaction() as tx:
                await lock_site(api.site.id, tx)
                await write(api.site.id, changes(7, ["rolled-back"]), tx)
                raise RuntimeError("the writer fails")
        await record(api.site.id, changes(7, ["kept"]))

        assert (await _change(ws))["memberId"] == "kept"
        assert await ws.nothing_within(0.3)


async def test_a_subscriber_that_fell_behind_still_reads_every_change(app: Any, api: Api) -> None:
    # given a subscriber whose queue holds one message
    size = broker.queue_size
    broker.queue_size = 1
    try:
        async with asgi_ws(app) as ws:
            assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
            await ws.subscribe(STREAM, {})
            await subscribed(TOPIC, api.site.id)

            # when many commits are told faster than it reads (most messages are dropped)
            for i in range(20):
                await record(api.site.id, changes(7, [f"m{i}"]))

            # then it still streams every change, in order, from the database
            got = [await _change(ws) for _ in range(20)]
            assert [c["memberId"] for c in got] == [f"m{i}" for i in range(20)]
            assert await ws.nothing_within(0.3)
    finally:
        broker.queue_size = size


async def test_a_segments_subscription_completes_after_its_deletion_exits(
    app: Any, api: Api
) -> None:
    # given a subscriber to VIP, which lists two members
    await members(api, "a", "b")
    vip = (await segment(api, "VIP", memberIds=["a", "b"]))["id"]
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(STREAM, {"segmentId": vip})
        await subscribed(TOPIC, api.site.id)

        # when VIP is deleted
        await api.query("mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", {"id": vip})

        # then both members' exits come, and the subscription completes: nothing more can come
        got = [await _change(ws) for _ in range(2)]
        assert sorted((c["memberId"], c["kind"], c["cause"]) for c in got) == [
            ("a", "EXITED", "SEGMENT_DELETED"),
            ("b", "EXITED", "SEGMENT_DELETED"),
        ]
        assert await ws.message() == {"id": "1", "type": "complete"}
