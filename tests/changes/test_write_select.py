"""The set-based writer: the changes a query selects, recorded in one statement, in its order,
with the segments' counters moved by them."""

from __future__ import annotations

from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.changes.record import lock_site, write_select
from app.members import service as members
from app.members.service import MemberData
from app.segments import service as segments
from tests.changes.support import kept_state, stored


async def test_write_select_records_the_selected_rows_and_moves_the_counter(db: None) -> None:
    site = await create_site(slug="write-select", name="Write select")
    await members.upsert(site_id=site.id, rows=[MemberData("a"), MemberData("b")])
    seg = await segments.create(site_id=site.id, actor="t", data=segments.SegmentData(name="S"))
    async with in_transaction() as tx:
        await lock_site(site.id, tx)
        last = await write_select(
            site.id,
            f"SELECT {seg.id} AS segment_id, m.id AS member_id, m.external_id AS member_ref,"
            " 'ENTERED' AS kind, 'LISTED' AS cause, m.created_at AS at FROM members m"
            " WHERE m.site_id = $1 ORDER BY m.external_id DESC",
            [site.id],
            tx,
        )
    rows = await stored(site.id)
    assert [(r.member_ref, r.kind) for r in rows] == [("b", "ENTERED"), ("a", "ENTERED")]
    assert last == rows[-1].id
    _, counts = await kept_state(site.id)
    assert counts[seg.id] == (2, 0)
