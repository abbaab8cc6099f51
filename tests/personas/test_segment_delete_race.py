"""PostgreSQL: a segment's delete locks its row before it looks for personas, so an attach
committed meanwhile is seen (on SQLite a transaction excludes every other writer: this module
is not collected there, see conftest.py)."""

from __future__ import annotations

import asyncio

import asyncpg

from app.db import asyncpg_dsn
from tests.conftest import TEST_DATABASE_URL
from tests.factories import Api
from tests.personas.support import attach, member_ids, persona
from tests.personas.test_segment_delete import GENEROUS_SECONDS, _delete, _site


async def test_an_attach_committed_while_the_delete_waits_refuses_the_delete(api: Api) -> None:
    """PostgreSQL: the delete locks the segment's row before it looks for personas, so an
    attach that holds the row (its foreign key) and commits meanwhile is seen, and the delete
    refused, rather than the new attachment going with the segment."""
    listed, gold = await _site(api)
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], listed)

    # given another connection's transaction attaching Gold to Admin, not yet committed
    other = await asyncpg.connect(asyncpg_dsn(TEST_DATABASE_URL, keep_options=False))
    try:
        attaching = other.transaction()
        await attaching.start()
        await other.execute(
            "INSERT INTO persona_segments (site_id, persona_id, segment_id, created_at)"
            " VALUES ($1, $2, $3, now())",
            api.site.id,
            int(admin["id"]),
            int(gold),
        )

        # when Gold is deleted meanwhile (it waits on the attach's lock on the segment's row)
        deleting = asyncio.create_task(_delete(api, gold))
        for _ in range(GENEROUS_SECONDS * 100):
            if deleting.done() or await other.fetchval(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ):
                break
            await asyncio.sleep(0.01)
        assert not deleting.done()
        # and the attach commits
        await attaching.commit()
        payload = await asyncio.wait_for(deleting, GENEROUS_SECONDS)
    finally:
        await other.close()

    # then the delete is refused, naming the persona, which keeps Gold
    assert [e["code"] for e in payload["userErrors"]] == ["CONFLICT"]
    assert "persona 'Admin' uses it" in payload["userErrors"][0]["message"]
    assert await member_ids(api, admin["id"]) == (2, ["m2", "m3"])
