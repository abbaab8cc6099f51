"""createWebhook and updateWebhook check the segments they name inside the transaction that
saves the webhook, with those segments' rows locked; a segment's delete locks its row before
it takes the segment out of the webhooks. So a webhook and a segment's delete running at once
never leave the webhook naming a deleted segment, whichever goes first.

PostgreSQL only: another connection holds a transaction open at the moment that matters; on
SQLite a transaction excludes every other writer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import asyncpg
import pytest

from app.db import asyncpg_dsn
from app.segments import service as segments
from app.webhooks import service as webhooks
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Api, segment
from tests.webhooks.conftest import CREATE, UPDATE, create, webhook

DELETE_SEGMENT = "mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }"
# a lock wait far longer than any test run means the mutation is not waiting
GENEROUS_SECONDS = 30


@pytest.fixture
async def other(hooks: Api) -> AsyncIterator[asyncpg.Connection]:
    """Another connection to the test database, in a transaction the test commits."""
    connection = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL, keep_options=False))
    try:
        yield connection
    finally:
        await connection.close()


async def _run_while_held(
    other: asyncpg.Connection, held: Any, mutation: Awaitable[dict[str, Any]]
) -> dict[str, Any]:
    """Run the mutation while ``other``'s transaction ``held`` is open: once it waits on a
    lock (or has ended), commit that transaction, then return its answer."""
    task = asyncio.ensure_future(mutation)
    for _ in range(GENEROUS_SECONDS * 100):
        if task.done() or await other.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ):
            break
        await asyncio.sleep(0.01)
    await held.commit()
    return await asyncio.wait_for(task, GENEROUS_SECONDS)


async def _deleting(other: asyncpg.Connection, segment_pk: int) -> Any:
    """Another transaction deleting the segment as a delete does (its row locked, then gone),
    not yet committed."""
    held = other.transaction()
    await held.start()
    await other.execute("SELECT id FROM segments WHERE id = $1 FOR UPDATE", segment_pk)
    await other.execute("DELETE FROM segments WHERE id = $1", segment_pk)
    return held


async def test_update_naming_a_segment_being_deleted_is_not_found(
    hooks: Api, other: asyncpg.Connection
) -> None:
    # given a webhook of Kept, and Gone being deleted by another transaction
    kept, gone = (await segment(hooks, "Kept"))["id"], (await segment(hooks, "Gone"))["id"]
    hook = await create(hooks, url="http://127.0.0.1:9/a", segmentIds=[kept])
    held = await _deleting(other, int(gone))

    # when the webhook is updated to Gone meanwhile, and the delete commits
    payload = (
        await _run_while_held(
            other, held, hooks.query(UPDATE, {"id": hook["id"], "input": {"segmentIds": [gone]}})
        )
    )["updateWebhook"]

    # then the update found no such segment, and the webhook still has Kept only
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "segmentIds", "0"])
    ]
    found = await webhook(hooks, hook["id"])
    assert (found["segmentIds"], found["enabled"]) == ([kept], True)


async def test_create_naming_a_segment_being_deleted_is_not_found(
    hooks: Api, other: asyncpg.Connection
) -> None:
    # given Gone being deleted by another transaction
    gone = (await segment(hooks, "Gone"))["id"]
    held = await _deleting(other, int(gone))

    # when a webhook of Gone is created meanwhile, and the delete commits
    payload = (
        await _run_while_held(
            other,
            held,
            hooks.query(CREATE, {"input": {"url": "http://127.0.0.1:9/a", "segmentIds": [gone]}}),
        )
    )["createWebhook"]

    # then no such segment was found, and no webhook was made
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["input", "segmentIds", "0"])
    ]
    assert (await hooks.query("{ webhooks { id } }"))["webhooks"] == []


async def test_a_segment_deleted_while_a_webhook_is_saved_naming_it_leaves_it(
    hooks: Api, other: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the webhooks' listener alone (the personas' one locks the segment's row as well)
    monkeypatch.setattr(segments, "deleted_listeners", [webhooks.segment_deleted])
    # given a webhook of every segment, being saved by another transaction as updateWebhook
    # saves it (Gone's row locked, then the webhook naming Gone), not yet committed
    gone = (await segment(hooks, "Gone"))["id"]
    hook = await create(hooks, url="http://127.0.0.1:9/a")
    held = other.transaction()
    await held.start()
    await other.execute("SELECT id FROM segments WHERE id = $1 FOR UPDATE", int(gone))
    await other.execute(
        "UPDATE webhooks SET segment_ids = $1::jsonb WHERE id = $2", f"[{gone}]", int(hook["id"])
    )

    # when Gone is deleted meanwhile, and the webhook's save commits
    payload = (await _run_while_held(other, held, hooks.query(DELETE_SEGMENT, {"id": gone})))[
        "deleteSegment"
    ]

    # then the delete took Gone out of the webhook saved meanwhile, and disabled it
    assert payload == {"deletedId": gone, "userErrors": []}
    found = await webhook(hooks, hook["id"])
    assert (found["segmentIds"], found["enabled"]) == ([], False)
    assert "deleted" in found["disabledReason"]
