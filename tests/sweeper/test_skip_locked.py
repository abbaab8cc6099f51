"""A sweep skips a site whose membership lock another transaction holds (another process's
sweeper, or a writer, which records the expiries due itself): it neither waits nor doubles."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.changes import sweeper
from app.changes.record import lock_site
from app.members import service as members
from app.members.service import MemberData
from app.memberships import path
from app.memberships.bulk import Mode
from app.memberships.path import ListChange, Lists
from app.segments import service as segments
from tests.changes.support import stored


async def test_two_sweeps_at_once_record_an_expiry_once(db: None) -> None:
    site = await create_site(slug="skip-locked", name="Skip")
    await members.upsert(site_id=site.id, rows=[MemberData("a")])
    seg = await segments.create(site_id=site.id, actor="t", data=segments.SegmentData(name="S"))
    now = datetime.now(UTC)
    step = ListChange(seg.id, Lists.MEMBERS, ["a"], Mode.ADD, expires_at=now + timedelta(minutes=1))
    await path.run(site_id=site.id, actor="t", steps=[step])
    later = now + timedelta(minutes=5)
    holding, release = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with in_transaction() as tx:
            await lock_site(site.id, tx)
            holding.set()
            await release.wait()

    task = asyncio.create_task(holder())
    await holding.wait()
    skipped = await asyncio.wait_for(sweeper.sweep(now=later), timeout=10)
    release.set()
    await task
    again = await sweeper.sweep(now=later)
    assert skipped.skipped >= 1 and skipped.expired == 0  # did not wait for the holder
    assert again.expired == 1  # the next sweep takes the site
    assert (await sweeper.sweep(now=later)).expired == 0
    assert [c.cause for c in await stored(site.id) if c.cause == "EXPIRED"] == ["EXPIRED"]
