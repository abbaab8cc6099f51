"""One sweep at a chosen moment: expiries (stamped when they happened), days_ago() rules
(stamped at the sweep), the pruning of old records in batches, and a site never written
since the record began gets its kept rows on its first sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.auth.service import create_site
from app.changes import sweeper
from app.changes.models import MembershipSite
from app.db import as_datetime, execute, fetch
from app.members import service as members
from app.members.service import MemberData
from app.memberships import path
from app.memberships.bulk import Mode
from app.memberships.path import ListChange, Lists
from app.segments import service as segments
from tests.changes.support import assert_consistent, kept_state, stored


async def test_an_expiry_is_recorded_once_stamped_when_it_happened(db: None) -> None:
    site = await create_site(slug="sweep-expiry", name="Sweep")
    await members.upsert(site_id=site.id, rows=[MemberData("a"), MemberData("b")])
    gold = await segments.create(site_id=site.id, actor="t", data=segments.SegmentData(name="Gold"))
    now = datetime.now(UTC)
    expiry = now + timedelta(minutes=10)
    step = ListChange(gold.id, Lists.MEMBERS, ["a", "b"], Mode.ADD, expires_at=expiry)
    await path.run(site_id=site.id, actor="t", steps=[step])
    before = len(await stored(site.id))
    done = await sweeper.sweep(now=now + timedelta(minutes=5))
    assert done.expired == 0
    done = await sweeper.sweep(now=now + timedelta(minutes=20))
    assert done.expired == 2
    expired = (await stored(site.id))[before:]
    assert [(c.member_ref, c.kind, c.cause) for c in expired] == [
        ("a", "EXITED", "EXPIRED"),
        ("b", "EXITED", "EXPIRED"),
    ]
    assert all(abs((as_datetime(c.at) - expiry).total_seconds()) < 0.001 for c in expired)
    _, counts = await kept_state(site.id)
    assert counts[gold.id] == (0, 0)
    assert (await sweeper.sweep(now=now + timedelta(minutes=30))).expired == 0
    await assert_consistent(site.id, now + timedelta(minutes=30))


async def test_old_records_are_pruned_in_batches_and_history_starts_later(db: None) -> None:
    site = await create_site(slug="sweep-prune", name="Prune")
    await members.upsert(site_id=site.id, rows=[MemberData(f"m{i}") for i in range(7)])
    seg = await segments.create(site_id=site.id, actor="t", data=segments.SegmentData(name="S"))
    # four writes: rows of 2, 2, 1 and 2 changes (a row holds one write's changes of a moment)
    for ids in (["m0", "m1"], ["m2", "m3"], ["m4"], ["m5", "m6"]):
        await path.run(
            site_id=site.id, actor="t", steps=[ListChange(seg.id, Lists.MEMBERS, ids, Mode.ADD)]
        )
    now = datetime.now(UTC)
    # a site recording for 200 days, whose first five changes are 100 days old
    await execute(
        "UPDATE membership_sites SET history_from = $1 WHERE site_id = $2",
        [now - timedelta(days=200), site.id],
    )
    old = await fetch(
        "SELECT id FROM membership_changes WHERE site_id = $1 ORDER BY id LIMIT 3", [site.id]
    )
    assert sum(1 for c in await stored(site.id) if c.row in {r["id"] for r in old}) == 5
    for row in old:
        await execute(
            "UPDATE membership_changes SET at = $1 WHERE id = $2",
            [now - timedelta(days=100), row["id"]],
        )
    done = await sweeper.sweep(now=now, history_days=90, prune_batch=2)
    assert done.pruned == 5
    left = await stored(site.id)
    assert [c.member_ref for c in left] == ["m5", "m6"]
    row = await MembershipSite.get(site_id=site.id)
    assert as_datetime(row.history_from) == now - timedelta(days=90)


async def test_a_site_from_before_the_record_is_built_by_its_first_sweep(db: None) -> None:
    site = await create_site(slug="sweep-build", name="Build")
    await members.upsert(
        site_id=site.id, rows=[MemberData("a", attributes={"n": 5}), MemberData("b")]
    )
    await segments.create(
        site_id=site.id,
        actor="t",
        data=segments.SegmentData(
            name="D", type=segments.SegmentType.DYNAMIC, rule="attributes.n > 1"
        ),
    )
    # as if written before migration 0009: no lock row, no kept rows
    await execute("DELETE FROM membership_sites WHERE site_id = $1", [site.id])
    await execute("DELETE FROM segment_rule_matches WHERE site_id = $1", [site.id])
    await execute("DELETE FROM segment_counts WHERE site_id = $1", [site.id])
    await execute("DELETE FROM membership_changes WHERE site_id = $1", [site.id])
    done = await sweeper.sweep()
    assert done.sites >= 1
    matches, counts = await kept_state(site.id)
    assert len(matches) == 1 and sorted(counts.values()) == [(1, 0)]
    assert await stored(site.id) == []  # no history invented
