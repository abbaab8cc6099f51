"""The broker without GraphQL: a message is told only once its transaction commits (never
after a rollback), only to subscribers of its topic and site, and a full queue drops and
counts instead of making the publisher wait."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.live.broker import Message, broker

pytestmark = pytest.mark.usefixtures("app", "db")

TOPIC = "test_topic"


async def _next(subscription: Any) -> list[Message]:
    async with asyncio.timeout(10):
        batch: list[Message] = await subscription.batch()
        return batch


async def _quiet(subscription: Any, seconds: float = 0.3) -> bool:
    try:
        async with asyncio.timeout(seconds):
            await subscription.batch()
    except TimeoutError:
        return True
    return False


async def test_a_message_is_told_once_its_transaction_commits() -> None:
    with broker.subscribe(TOPIC, site_id=1) as sub:
        # when a message is published inside a transaction
        async with in_transaction() as tx:
            await broker.publish(topic=TOPIC, site_id=1, payload={"id": 7}, connection=tx)
            # then nobody hears of it before the commit
            assert await _quiet(sub)

        # and it is heard once the transaction has committed
        [message] = await _next(sub)
    assert (message.topic, message.site_id, message.payload, message.dropped_before) == (
        TOPIC,
        1,
        {"id": 7},
        0,
    )


async def test_a_message_of_a_rolled_back_transaction_is_never_told() -> None:
    with broker.subscribe(TOPIC, site_id=1) as sub:
        # when a transaction publishes, then fails
        with pytest.raises(RuntimeError):
            async with in_transaction() as tx:
                await broker.publish(topic=TOPIC, site_id=1, payload={"id": 1}, connection=tx)
                raise RuntimeError("rolled back")
        # and another message is published with no transaction
        await broker.publish(topic=TOPIC, site_id=1, payload={"id": 2})

        # then only the second is heard
        [message] = await _next(sub)
        assert message.payload == {"id": 2}
        assert await _quiet(sub)


async def test_subscribers_hear_only_their_topic_and_site_and_what_they_asked() -> None:
    with (
        broker.subscribe(TOPIC, site_id=1) as everything,
        broker.subscribe(TOPIC, site_id=1, where=lambda p: p["segment"] == 5) as one_segment,
        broker.subscribe(TOPIC, site_id=2) as other_site,
        broker.subscribe("other_topic", site_id=1) as other_topic,
    ):
        # when messages of segments 4 and 5 of site 1 are published
        for segment in (4, 5):
            await broker.publish(topic=TOPIC, site_id=1, payload={"segment": segment})

        # then the site's subscriber hears both, the filtered one segment 5 only
        heard = []
        while len(heard) < 2:
            heard += [m.payload["segment"] for m in await _next(everything)]
        assert heard == [4, 5]
        assert [m.payload["segment"] for m in await _next(one_segment)] == [5]
        # and the other site and the other topic hear nothing
        assert await _quiet(other_site)
        assert await _quiet(other_topic, 0.01)


async def test_a_full_queue_drops_counts_and_never_makes_the_publisher_wait() -> None:
    # given a subscriber with room for two messages that does not read
    with broker.subscribe(TOPIC, site_id=1, maxsize=2) as slow:
        # when a hundred messages are published, and their delivery is awaited
        started = time.monotonic()
        async with in_transaction() as tx:
            for i in range(100):
                await broker.publish(topic=TOPIC, site_id=1, payload={"id": i}, connection=tx)
        await asyncio.sleep(0.5)  # every notification has come back (PostgreSQL)
        elapsed = time.monotonic() - started

        # then the publisher was never held up by the slow reader (generous bound)
        assert elapsed < 10
        # and the reader finds the first two, with nothing said to have been dropped before them
        first = await _next(slow)
        assert [(m.payload["id"], m.dropped_before) for m in first] == [(0, 0), (1, 0)]
        # and the next message it gets says 98 were dropped before it
        await broker.publish(topic=TOPIC, site_id=1, payload={"id": 100})
        [after] = await _next(slow)
        assert (after.payload["id"], after.dropped_before) == (100, 98)
        # and then the count starts again
        await broker.publish(topic=TOPIC, site_id=1, payload={"id": 101})
        [again] = await _next(slow)
        assert again.dropped_before == 0


async def test_a_payload_too_large_for_notify_is_refused() -> None:
    # when a payload of rows instead of ids is published
    # then it is refused before anything is sent
    with pytest.raises(ValueError, match="send ids"):
        await broker.publish(topic=TOPIC, site_id=1, payload={"rows": "x" * 9000})


async def test_a_subscription_is_let_go_when_its_block_ends() -> None:
    # given a subscription that ended
    with broker.subscribe(TOPIC, site_id=3):
        assert broker.subscriber_count(TOPIC, 3) == 1

    # then the broker keeps nothing of it
    assert broker.subscriber_count(TOPIC, 3) == 0
