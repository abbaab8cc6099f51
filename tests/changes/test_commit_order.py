"""The record's ids follow the order its writers commit in, so that a reader keeping the last id
it read never skips a change: a writer that began first but commits last cannot have handed
out the smaller id (the site's membership lock, held to commit). On PostgreSQL the writers
really run at once; SQLite has one writer at a time and must hold the same."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.changes.models import ChangeCause, ChangeKind
from app.changes.record import Change, lock_site, write
from app.members import service as members
from app.members.service import MemberData
from app.memberships import path
from app.memberships.bulk import Mode
from app.memberships.path import ListChange, Lists
from app.segments import service as segments
from tests.changes.support import assert_consistent, stored


def _change(n: int) -> Change:
    return Change(1, n, f"m-{n}", ChangeKind.ENTERED, ChangeCause.LISTED, datetime.now(UTC))


async def _ids_after(site_id: int, cursor: int) -> list[int]:
    return [c.id for c in await stored(site_id, cursor)]


async def test_a_reader_after_its_cursor_misses_nothing_while_writers_overlap(db: None) -> None:
    site = await create_site(slug="order", name="Order")
    async with in_transaction() as tx:  # the site's lock row exists: only the lock orders
        await lock_site(site.id, tx)
    first_wrote = asyncio.Event()

    async def slow_writer() -> None:
        async with in_transaction() as tx:
            await lock_site(site.id, tx)
            await write(site.id, [_change(1)], tx)
            first_wrote.set()
            await asyncio.sleep(0.3)  # commits after the other writer has asked for the lock

    async def quick_writer() -> None:
        await first_wrote.wait()
        async with in_transaction() as tx:
            await lock_site(site.id, tx)
            await write(site.id, [_change(2), _change(3)], tx)

    seen: list[int] = []
    cursor = 0

    async def read_on() -> None:
        nonlocal cursor
        ids = await _ids_after(site.id, cursor)
        seen.extend(ids)
        cursor = ids[-1] if ids else cursor

    writers = asyncio.gather(slow_writer(), quick_writer())
    while not writers.done():  # a consumer reading on from its cursor as changes commit
        await read_on()
        await asyncio.sleep(0.01)
    await writers
    await read_on()
    # every change read once, in id order, none skipped
    assert seen == sorted(seen) == await _ids_after(site.id, 0)
    # the first to commit, first
    assert [c.member_id for c in await stored(site.id)] == [1, 2, 3]


async def test_concurrent_service_writers_keep_the_counters_right(db: None) -> None:
    site = await create_site(slug="order-service", name="Order service")
    ids = [f"m{i}" for i in range(40)]
    await members.upsert(site_id=site.id, rows=[MemberData(i) for i in ids])
    made = [
        (
            await segments.create(
                site_id=site.id, actor="test", data=segments.SegmentData(name=f"s{n}")
            )
        ).id
        for n in range(4)
    ]

    async def writer(n: int) -> None:
        for round_ in range(3):
            chosen = ids[(n + round_) * 5 : (n + round_) * 5 + 15]
            mode = Mode.OVERRIDE if round_ % 2 else Mode.ADD
            change = ListChange(made[n % len(made)], Lists.MEMBERS, chosen, mode)
            await path.run(site_id=site.id, actor="test", steps=[change])

    await asyncio.wait_for(asyncio.gather(*(writer(n) for n in range(8))), timeout=60)
    await assert_consistent(site.id)
