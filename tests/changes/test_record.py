"""The record's writer: changes in order on the caller's transaction, told at commit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.changes import feed
from app.changes.models import ChangeCause, ChangeKind, MembershipSite
from app.changes.record import TOPIC, Change, lock_site, write
from app.db import fetch
from app.live.broker import broker
from tests.changes.support import stored

AT = datetime(2026, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def _changes(n: int) -> list[Change]:
    return [
        Change(
            segment_id=10 + i % 2,
            member_id=100 + i,
            member_ref=f"m-{i}",
            kind=ChangeKind.ENTERED if i % 3 else ChangeKind.EXITED,
            cause=ChangeCause.LISTED,
            at=AT + timedelta(seconds=i),
        )
        for i in range(n)
    ]


async def test_write_keeps_the_order_and_every_field(database: str) -> None:
    site = await create_site(slug="record-order", name="Record order")
    async with in_transaction() as tx:
        await lock_site(site.id, tx)
        last = await write(site.id, _changes(5), tx)
    rows = await stored(site.id)
    assert last == rows[-1].id
    assert [(r.segment_id, r.member_id, r.member_ref, r.kind, r.cause, r.at) for r in rows] == [
        (c.segment_id, c.member_id, c.member_ref, c.kind.value, c.cause.value, c.at)
        for c in _changes(5)
    ]
    assert await MembershipSite.filter(site_id=site.id).count() == 1


async def test_a_rolled_back_write_leaves_no_change_and_tells_nobody(app: object) -> None:
    site = await create_site(slug="record-rollback", name="Record rollback")
    with broker.subscribe(TOPIC, site_id=site.id) as sub:
        with pytest.raises(RuntimeError):
            async with in_transaction() as tx:
                await lock_site(site.id, tx)
                await write(site.id, _changes(3), tx)
                raise RuntimeError("the caller fails after writing")
        async with in_transaction() as tx:
            await lock_site(site.id, tx)
            last = await write(site.id, _changes(2), tx)
        messages = await asyncio.wait_for(sub.batch(), timeout=5)
    assert len(await stored(site.id)) == 2
    assert [m.payload["upto"] for m in messages] == [last]


async def test_a_large_write_is_rows_of_at_most_4096_changes_read_back_one_by_one(
    database: str,
) -> None:
    # given a write of 10,000 changes of one segment, kind, cause and moment
    site = await create_site(slug="record-compact", name="Record compact")
    written = [
        Change(7, 100 + i, f"m-{i}", ChangeKind.ENTERED, ChangeCause.LISTED, AT)
        for i in range(10_000)
    ]
    async with in_transaction() as tx:
        await lock_site(site.id, tx)
        last = await write(site.id, written, tx)
    # then it is three rows, of 4,096, 4,096 and 1,808 changes, whose ids follow each other
    rows = await fetch(
        "SELECT id, size FROM membership_changes WHERE site_id = $1 ORDER BY id", [site.id]
    )
    assert [int(r["size"]) for r in rows] == [4096, 4096, 1808]
    changes = await stored(site.id)
    assert [c.member_ref for c in changes] == [c.member_ref for c in written]
    ids = [c.id for c in changes]
    assert ids == list(range(ids[0], ids[0] + 10_000)) and ids[-1] == last
    # and a reader paging from its cursor (pages ending inside rows) reads each change once
    read: list[feed.ChangeRow] = []
    cursor = 0
    while page := await feed.list_changes(site_id=site.id, after=cursor, first=999):
        read += page
        cursor = page[-1].id
    assert [(r.id, r.member_ref) for r in read] == [(c.id, c.member_ref) for c in changes]
    # and one member's change is found by its external id, under its own id
    [mine] = await feed.list_changes(site_id=site.id, after=0, first=10, member_ref="m-5000")
    assert (mine.id, mine.segment_id) == (ids[5000], 7)
    # and a cursor within a row resumes within it
    after = await feed.list_changes(site_id=site.id, after=ids[4100], first=2)
    assert [r.id for r in after] == ids[4101:4103]


async def test_interleaved_segments_are_rows_of_each_in_the_order_written(database: str) -> None:
    # given one write of changes of two segments, interleaved, in a scrambled member order
    site = await create_site(slug="record-interleaved", name="Record interleaved")
    order = [(i * 7919) % 5000 for i in range(5000)]
    written = [
        Change(1 + n % 2, n, f"m-{n}", ChangeKind.EXITED, ChangeCause.UNLISTED, AT) for n in order
    ]
    async with in_transaction() as tx:
        await lock_site(site.id, tx)
        await write(site.id, written, tx)
    # then each segment's changes are rows of their own, in the order they were written
    changes = await stored(site.id)
    for segment in (1, 2):
        assert [c.member_id for c in changes if c.segment_id == segment] == [
            n for n in order if 1 + n % 2 == segment
        ]
    assert sorted(c.id for c in changes) == [c.id for c in changes]
    assert len({c.row for c in changes}) == 2
