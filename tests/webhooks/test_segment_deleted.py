"""A deleted segment leaves the segmentIds of the webhooks that named it (as it leaves the
flags that target it); a webhook left with none is disabled, never widened to every segment."""

from __future__ import annotations

from tests.factories import Api, segment
from tests.webhooks.conftest import UPDATE, create, webhook

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
