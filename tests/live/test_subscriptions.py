"""segmentEvents over graphql-transport-ws through a real WebSocket client (httpx-ws) on the
ASGI app: authentication, events as they commit, tenancy, rolled-back changes never told,
and the dropped-events notice of a subscriber that fell behind. On PostgreSQL every event
goes through NOTIFY and this process's listener, as it would between processes."""

from __future__ import annotations

from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect

from app.auth.models import Role
from app.auth.service import authenticate, revoke_key
from app.events.service import TOPIC
from app.live.broker import broker
from tests.factories import Api, count_statements, members, segment
from tests.live.support import (
    SEGMENT_EVENTS,
    GraphQLWs,
    asgi_ws,
    eventually,
    settled,
    subscribed,
)

UPDATE_SEGMENT = """
mutation($id: ID!, $description: String) {
  updateSegment(id: $id, input: {description: $description}) { userErrors { code } }
}
"""

ADD_MEMBERS = """
mutation($id: ID!, $ids: [ID!]!) {
  updateSegmentMembers(input: {segmentId: $id, memberIds: $ids, mode: ADD}) {
    added userErrors { code }
  }
}
"""

CREATE_SEGMENT = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { code } }
}
"""

APPLY_CHANGES = """
mutation($changes: [MembershipChangeInput!]!) {
  applyMembershipChanges(changes: $changes) { userErrors { code } results { added } }
}
"""


async def _describe(api: Api, segment_id: str, text: str) -> None:
    data = await api.query(UPDATE_SEGMENT, {"id": segment_id, "description": text})
    assert data["updateSegment"]["userErrors"] == []


async def _subscribe(
    ws: GraphQLWs, api: Api, segment_id: str | None = None, *, count: int = 1
) -> None:
    await settled(api.site.id)  # what committed before is not heard as if after
    await ws.subscribe(SEGMENT_EVENTS, {"segmentId": segment_id})
    await subscribed(TOPIC, api.site.id, count)


# ------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(lambda key: {"Authorization": f"Bearer {key}"}, id="authorization"),
        pytest.param(lambda key: {"apiKey": key}, id="apiKey"),
        pytest.param(lambda key: {"headers": {"authorization": f"bearer {key}"}}, id="headers"),
    ],
)
async def test_a_key_in_connection_init_signs_the_connection_in(
    app: Any, api: Api, payload: Any
) -> None:
    # given a segment
    vip = await segment(api, "VIP")

    async with asgi_ws(app) as ws:
        # when the key comes in connection_init and the segment's events are subscribed to
        assert (await ws.init(payload(api.key)))["type"] == "connection_ack"
        await _subscribe(ws, api, vip["id"])
        await _describe(api, vip["id"], "changed")

        # then its UPDATED event arrives, written by the key's name
        event = await ws.event()
        assert (event["segmentId"], event["kind"], event["actor"]) == (
            vip["id"],
            "UPDATED",
            "test-admin",
        )


async def test_a_key_in_the_handshake_header_signs_the_connection_in(app: Any, api: Api) -> None:
    # given a segment
    vip = await segment(api, "VIP")

    # when the key is sent as the handshake's Authorization header, none in connection_init
    async with asgi_ws(app, headers={"Authorization": f"Bearer {api.key}"}) as ws:
        assert (await ws.init())["type"] == "connection_ack"
        await _subscribe(ws, api, vip["id"])
        await _describe(api, vip["id"], "changed")

        # then events come
        assert (await ws.event())["kind"] == "UPDATED"


async def test_a_null_connection_init_payload_is_no_payload(app: Any, api: Api) -> None:
    # graphql-transport-ws: ConnectionInitMessage.payload is `Record<string, unknown> | null`,
    # optional; a client whose connectionParams give null sends "payload": null

    # when the key is the handshake's header and connection_init's payload is null
    async with asgi_ws(app, headers={"Authorization": f"Bearer {api.key}"}) as ws:
        await ws.ws.send_json({"type": "connection_init", "payload": None})

        # then the connection is acknowledged, as with no payload at all
        assert (await ws.ws.receive_json(timeout=5))["type"] == "connection_ack"

    # and with no key anywhere, a null payload is refused for its missing key (4403), not as
    # a malformed message (4400)
    async with asgi_ws(app) as ws:
        await ws.ws.send_json({"type": "connection_init", "payload": None})
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.ws.receive_json(timeout=5)
        assert closed.value.code == 4403
        assert closed.value.reason == "Authentication required: no API key in connection_init"


@pytest.mark.parametrize(
    "payload",
    [{}, {"apiKey": "seg_not-a-key"}, {"Authorization": "Basic abc"}, {"apiKey": 42}],
    ids=["none", "unknown", "not-bearer", "not-a-string"],
)
async def test_a_connection_without_a_valid_key_is_refused(
    app: Any, api: Api, payload: dict[str, Any]
) -> None:
    async with asgi_ws(app) as ws:
        # when connection_init carries no valid key
        await ws.ws.send_json({"type": "connection_init", "payload": payload})

        # then the connection is closed as forbidden, without an ack, saying why
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.ws.receive_json(timeout=5)
        assert closed.value.code == 4403
        assert closed.value.reason in (
            "Invalid or revoked API key",
            "Authentication required: no API key in connection_init",
        )


async def test_a_revoked_key_is_refused(app: Any, api: Api) -> None:
    # given a key that was revoked
    reader = await api.with_role(Role.READER)
    viewer = await authenticate(reader.key)
    assert viewer is not None
    await revoke_key(site_id=api.site.id, key_id=viewer.key_id)

    async with asgi_ws(app) as ws:
        # when it is sent in connection_init
        await ws.ws.send_json({"type": "connection_init", "payload": {"apiKey": reader.key}})

        # then the connection is refused
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.ws.receive_json(timeout=5)
        assert closed.value.code == 4403


async def test_an_invalid_key_in_the_handshake_header_refuses_the_handshake(
    app: Any, api: Api
) -> None:
    # when the handshake carries a key that is not one
    with pytest.raises(ExceptionGroup) as refused:
        async with asgi_ws(app, headers={"Authorization": "Bearer seg_nope"}):
            pass

    # then the WebSocket is closed before it is accepted (a server answers the handshake 403)
    assert refused.group_contains(WebSocketDisconnect, match="4403")


async def test_a_reader_may_subscribe(app: Any, api: Api) -> None:
    # given a READER key and a segment
    reader = await api.with_role(Role.READER)
    vip = await segment(api, "VIP")

    async with asgi_ws(app) as ws:
        # when the reader subscribes and a writer changes the segment
        await ws.init({"apiKey": reader.key})
        await _subscribe(ws, api, vip["id"])
        await _describe(api, vip["id"], "changed")

        # then the reader hears of it
        assert (await ws.event())["kind"] == "UPDATED"


# ------------------------------------------------------------------ what is delivered


async def test_events_of_the_segment_arrive_as_they_commit_and_others_do_not(
    app: Any, api: Api
) -> None:
    # given two segments and two members
    vip = await segment(api, "VIP")
    other = await segment(api, "Other")
    await members(api, "u1", "u2")

    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, vip["id"])

        # when the other segment changes, then VIP gets members, then VIP is described
        await _describe(api, other["id"], "not for this subscriber")
        added = await api.query(ADD_MEMBERS, {"id": vip["id"], "ids": ["u1", "u2"]})
        assert added["updateSegmentMembers"]["added"] == 2
        await _describe(api, vip["id"], "changed")

        # then VIP's two events come in order, with what the audit trail holds
        first = await ws.event()
        second = await ws.event()
    assert (first["segmentId"], first["kind"], first["count"]) == (vip["id"], "MEMBERS_ADDED", 2)
    assert sorted(first["sampleIds"]) == ["u1", "u2"]
    assert first["droppedBefore"] == 0
    assert first["at"].endswith("+00:00")
    assert (second["segmentId"], second["kind"]) == (vip["id"], "UPDATED")
    assert int(second["id"]) > int(first["id"])
    trail = await api.query(
        "query($id: ID!) { segment(id: $id) { events { edges { node { id droppedBefore } } } } }",
        {"id": vip["id"]},
    )
    nodes = [e["node"] for e in trail["segment"]["events"]["edges"]]
    assert {"id": second["id"], "droppedBefore": None} in nodes


async def test_with_no_segment_id_every_segment_of_the_site_is_heard(app: Any, api: Api) -> None:
    # given a segment
    vip = await segment(api, "VIP")

    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, None)

        # when a segment is created and another is changed
        created = await api.query(CREATE_SEGMENT, {"input": {"name": "New"}})
        await _describe(api, vip["id"], "changed")

        # then both are heard
        first = await ws.event()
        second = await ws.event()
    assert (first["segmentId"], first["kind"]) == (
        created["createSegment"]["segment"]["id"],
        "CREATED",
    )
    assert (second["segmentId"], second["kind"]) == (vip["id"], "UPDATED")


async def test_a_change_that_rolled_back_is_never_told(app: Any, api: Api) -> None:
    # given a subscriber to every segment of the site
    vip = await segment(api, "VIP")
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, None)

        # when a create fails after writing its CREATED event (an unknown member: rolled back)
        refused = await api.query(
            CREATE_SEGMENT, {"input": {"name": "Doomed", "memberIds": ["nobody"]}}
        )
        assert refused["createSegment"]["userErrors"] == [{"code": "NOT_FOUND"}]
        # and then a change succeeds
        await _describe(api, vip["id"], "changed")

        # then the first event heard is the one that committed
        event = await ws.event()
    assert (event["segmentId"], event["kind"]) == (vip["id"], "UPDATED")


async def test_deleting_the_segment_is_heard(app: Any, api: Api) -> None:
    # given a subscriber to a segment
    vip = await segment(api, "VIP")
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, vip["id"])

        # when the segment is deleted
        await api.query("mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", vip)

        # then its DELETED event comes, and the subscription completes: nothing more can come
        event = await ws.event()
        assert await ws.message() == {"id": "1", "type": "complete"}
    assert (event["segmentId"], event["kind"]) == (vip["id"], "DELETED")


async def test_deleting_another_segment_leaves_a_site_wide_subscription_open(
    app: Any, api: Api
) -> None:
    # given a subscriber to every segment of the site
    vip, other = await segment(api, "VIP"), await segment(api, "Other")
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api)

        # when a segment is deleted, then its DELETED event comes and the subscription goes on
        await api.query("mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", other)
        assert (await ws.event())["kind"] == "DELETED"
        await api.query(UPDATE_SEGMENT, {"id": vip["id"], "description": "still heard"})
        assert (await ws.event())["kind"] == "UPDATED"


async def test_the_subscription_ends_its_broker_queue_when_completed(app: Any, api: Api) -> None:
    # given a live subscription
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, None)

        # when the client completes it
        await ws.ws.send_json({"id": "1", "type": "complete"})

        # then the broker lets go of its queue
        async def gone() -> bool:
            return broker.subscriber_count(TOPIC, api.site.id) == 0

        await eventually(gone)


# ------------------------------------------------------------------ tenancy


async def test_another_sites_segment_id_is_not_found(app: Any, api: Api, other_api: Api) -> None:
    # given a segment of acme
    vip = await segment(api, "VIP")

    async with asgi_ws(app) as ws:
        # when globex subscribes to it, and to an id that names nothing
        await ws.init({"apiKey": other_api.key})
        answers = {}
        for op, segment_id in (("theirs", vip["id"]), ("unknown", "987654")):
            await ws.subscribe(SEGMENT_EVENTS, {"segmentId": segment_id}, op=op)
            answers[op] = [await ws.message(), await ws.message()]

    # then both get the same NOT_FOUND error, then the end of the subscription
    for op, (error, end) in answers.items():
        assert (error["id"], error["type"], error["payload"]["data"]) == (op, "next", None)
        assert [e["extensions"]["code"] for e in error["payload"]["errors"]] == ["NOT_FOUND"]
        assert end == {"id": op, "type": "complete"}
    assert broker.subscriber_count(TOPIC, other_api.site.id) == 0


async def test_a_subscriber_never_hears_another_sites_events(
    app: Any, api: Api, other_api: Api
) -> None:
    # given acme's segment and globex's, and a globex subscriber to all its segments
    vip = await segment(api, "VIP")
    theirs = await segment(other_api, "Globex")
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": other_api.key})
        await _subscribe(ws, other_api, None)

        # when acme changes its segment, then globex changes its own
        await _describe(api, vip["id"], "acme's change")
        await _describe(other_api, theirs["id"], "globex's change")

        # then the first (and only) event globex hears is its own
        event = await ws.event()
        assert (event["segmentId"], event["kind"]) == (theirs["id"], "UPDATED")
        assert await ws.nothing_within(0.3)


# ------------------------------------------------------------------ a slow subscriber


async def test_a_subscriber_that_falls_behind_is_told_how_many_events_it_missed(
    app: Any, api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given queues of two messages per subscriber, ten segments, a member, and a subscriber
    monkeypatch.setattr(broker, "queue_size", 2)
    ids = [(await segment(api, f"s{i}"))["id"] for i in range(10)]
    await members(api, "u1")
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await _subscribe(ws, api, None)

        # when one mutation commits ten events at once, faster than they can be sent
        changes = [{"segmentId": i, "mode": "ADD", "memberIds": ["u1"]} for i in ids]
        done = await api.query(APPLY_CHANGES, {"changes": changes})
        assert done["applyMembershipChanges"]["userErrors"] == []
        burst = [await ws.event()]
        # and once the subscriber has caught up, another change comes
        await _describe(api, ids[0], "after the burst")
        while (event := await ws.event())["kind"] != "UPDATED":
            burst.append(event)

    # then the first events came as they were, and the next one says how many were missed
    assert all(e["kind"] == "MEMBERS_ADDED" and e["droppedBefore"] == 0 for e in burst)
    assert event["droppedBefore"] > 0
    assert len(burst) + event["droppedBefore"] == 10


# ------------------------------------------------------------------ queries over the socket

MEMBER_COUNT = "query($id: ID!) { segment(id: $id) { memberCount } }"


async def test_each_query_on_the_socket_reads_fresh_rows(app: Any, api: Api) -> None:
    # given a segment with one member, and a connection that has read its count
    await members(api, "u1", "u2")
    vip = await segment(api, "VIP", memberIds=["u1"])
    async with asgi_ws(app) as ws:
        await ws.init({"apiKey": api.key})
        await ws.subscribe(MEMBER_COUNT, {"id": vip["id"]}, op="before")
        before = await ws.message()

        # when a member is added, and the same connection asks again
        await api.query(ADD_MEMBERS, {"id": vip["id"], "ids": ["u2"]})
        await ws.subscribe(MEMBER_COUNT, {"id": vip["id"]}, op="after")
        after = await ws.message()
        while after["id"] != "after" or after["type"] != "next":  # "before" completing
            after = await ws.message()

    # then the second answer is not the first one cached by the connection's loaders
    assert before["payload"]["data"] == {"segment": {"memberCount": 1}}
    assert after["payload"]["data"] == {"segment": {"memberCount": 2}}


async def test_subscribers_of_a_site_share_one_read_of_each_event(app: Any, api: Api) -> None:
    # given three subscribers of the site on this process
    vip = await segment(api, "VIP")
    async with asgi_ws(app, count=3) as (one, two, three):
        for ws in (one, two, three):
            await ws.init({"apiKey": api.key})
            await ws.subscribe(SEGMENT_EVENTS, {"segmentId": None})
        await subscribed(TOPIC, api.site.id, 3)

        # when an event commits and all three hear it
        with count_statements() as statements:
            await _describe(api, vip["id"], "changed")
            heard = [await ws.event() for ws in (one, two, three)]

    # then they heard the same event, and its row was read once, not once per subscriber
    assert len({e["id"] for e in heard}) == 1
    reads = [
        s for s in statements if s.lstrip().upper().startswith("SELECT") and "segment_events" in s
    ]
    assert len(reads) == 1, reads


async def test_a_subscription_past_the_connection_s_limit_gets_an_error_with_a_code(
    app: Any, api: Api
) -> None:
    # given a connection holding as many subscriptions as it may (100)
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        for op in range(100):
            await ws.subscribe(SEGMENT_EVENTS, op=str(op))
        await subscribed(TOPIC, api.site.id, 100)

        # when one more is subscribed
        await ws.subscribe(SEGMENT_EVENTS, op="one-too-many")

        # then it gets an error message with a code and the limit
        message = await ws.message()
        assert (message["type"], message["id"]) == ("error", "one-too-many"), message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "TOO_MANY_SUBSCRIPTIONS"
        assert "at most 100" in error["message"]
