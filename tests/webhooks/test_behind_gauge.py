"""segments_webhooks_behind: enabled webhooks with recorded changes not yet delivered. A
batch still PENDING (failing to be sent) counts; a change of a segment not watched does not."""

from __future__ import annotations

from tests.factories import Api, members, segment
from tests.processes import free_port
from tests.webhooks.conftest import Clock, Workers, create, deliveries, record, until, webhook


async def _behind(api: Api) -> str:
    text = (await api.client.get("/metrics")).text
    [line] = [x for x in text.splitlines() if x.startswith("segments_webhooks_behind ")]
    return line


async def test_a_batch_failing_to_connect_is_behind(hooks: Api, workers: Workers) -> None:
    # given a webhook whose receiver refuses connections, and a change for it
    seg = await segment(hooks, "Gold")
    made = await create(hooks, url=f"http://127.0.0.1:{free_port()}/hook")
    await record(hooks.site.id, seg["id"], ["m-1"])

    # when a worker (on a clock that stands still) has batched it and failed to send it
    workers(clock=Clock(), webhook_retry_base_seconds=3600)

    async def failed() -> bool:
        found = deliveries(await webhook(hooks, made["id"]))
        return bool(found) and found[0]["attempts"] >= 1 and found[0]["status"] == "PENDING"

    await until(failed, what="the failed attempt")

    # then the webhook counts as behind
    assert await _behind(hooks) == "segments_webhooks_behind 1.0"


async def test_a_change_of_a_segment_not_watched_is_not_behind(hooks: Api) -> None:
    # given a webhook of one segment
    watched, other = (await segment(hooks, "Watched"))["id"], (await segment(hooks, "Other"))["id"]
    await create(hooks, url="http://127.0.0.1:9/hook", segmentIds=[watched])

    # when a change of another segment is recorded: nothing is behind
    await record(hooks.site.id, other, ["m-1"])
    assert await _behind(hooks) == "segments_webhooks_behind 0.0"

    # and when one of its own is: it is behind
    await record(hooks.site.id, watched, ["m-2"])
    assert await _behind(hooks) == "segments_webhooks_behind 1.0"


async def test_a_webhook_of_every_segment_is_behind_for_any_change(hooks: Api) -> None:
    seg = await segment(hooks, "Any")
    await create(hooks, url="http://127.0.0.1:9/hook")
    assert await _behind(hooks) == "segments_webhooks_behind 0.0"
    await record(hooks.site.id, seg["id"], ["m-1"])
    assert await _behind(hooks) == "segments_webhooks_behind 1.0"


async def test_a_deleted_segments_exits_not_yet_delivered_are_behind(hooks: Api) -> None:
    # given a webhook of Gold only, and Gold with a member
    gold = (await segment(hooks, "Gold"))["id"]
    await members(hooks, "ann")
    listed = await hooks.query(
        "mutation($input: UpdateSegmentMembersInput!) {"
        " updateSegmentMembers(input: $input) { added } }",
        {"input": {"segmentId": gold, "memberIds": ["ann"], "mode": "ADD"}},
    )
    assert listed["updateSegmentMembers"]["added"] == 1
    await create(hooks, url="http://127.0.0.1:9/hook", segmentIds=[gold])
    assert await _behind(hooks) == "segments_webhooks_behind 0.0"

    # when Gold is deleted: its exit is still to deliver, though Gold left its segmentIds
    deleted = await hooks.query(
        "mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", {"id": gold}
    )
    assert deleted["deleteSegment"]["deletedId"] == gold
    assert await _behind(hooks) == "segments_webhooks_behind 1.0"
