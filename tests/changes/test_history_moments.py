"""The history's reading rules, on records written directly: which change tells the past (the
earliest after the moment, by when it happened), and the moment the current state is judged
at (the site's expiry watermark: an expiry not recorded yet came after the moment asked)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.auth.service import create_site
from app.changes import history
from app.changes.models import ChangeKind
from app.db import execute, ts
from app.errors import HistoryUnavailable
from tests.changes.records import AT, changes, record


async def test_the_earliest_change_after_the_moment_tells_it(db: None) -> None:
    site = await create_site(slug="moments", name="Moments")
    # given, for member a: entered 7 at AT, exited 7 at AT+1s (written later, stamped earlier
    # than a change of 8 committed before it), and entered 8 at AT+5s
    entered = changes(7, ["a"])
    exited = changes(7, ["x", "a"], ChangeKind.EXITED)[1:]  # stamped AT+1s
    later = changes(8, ["p", "q", "r", "s", "t", "a"])[5:]  # stamped AT+5s
    await record(site.id, entered)
    await record(site.id, later)
    await record(site.id, exited)

    found = await history.earliest_after(
        site_id=site.id, member_ref="a", at=AT - timedelta(seconds=1)
    )
    between = await history.earliest_after(site_id=site.id, member_ref="a", at=AT)
    only_8 = await history.earliest_after(
        site_id=site.id, member_ref="a", at=AT - timedelta(seconds=1), segment_pk=8
    )
    other = await history.earliest_after(site_id=site.id, member_ref="b", at=AT)

    assert found == {7: ChangeKind.ENTERED, 8: ChangeKind.ENTERED}
    assert between == {7: ChangeKind.EXITED, 8: ChangeKind.ENTERED}
    assert only_8 == {8: ChangeKind.ENTERED} and other == {}
    assert history.was_member(True, None) is True
    assert history.was_member(True, ChangeKind.ENTERED) is False
    assert history.was_member(False, ChangeKind.EXITED) is True


async def test_the_current_listings_are_judged_at_the_expiry_watermark(db: None) -> None:
    site = await create_site(slug="watermark", name="Watermark")
    now = datetime.now(UTC)
    await record(site.id, changes(7, ["a"]))  # the site's history starts
    await execute(
        "UPDATE membership_sites SET history_from = $1 WHERE site_id = $2",
        [ts(now - timedelta(days=1)), site.id],
    )
    hour_ago = now - timedelta(hours=1)

    await execute(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [ts(now - timedelta(hours=2)), site.id],
    )
    not_expired = await history.moment(site_id=site.id, at=hour_ago, now=now)
    await execute(
        "UPDATE membership_sites SET expired_to = $1 WHERE site_id = $2",
        [ts(now - timedelta(minutes=1)), site.id],
    )
    swept = await history.moment(site_id=site.id, at=hour_ago, now=now)
    future = await history.moment(site_id=site.id, at=now + timedelta(days=1), now=now)

    assert (not_expired.at, not_expired.judged) == (hour_ago, hour_ago)
    assert (swept.at, swept.judged) == (hour_ago, now - timedelta(minutes=1))
    assert (future.at, future.judged) == (now, now)
    with pytest.raises(HistoryUnavailable):
        await history.moment(site_id=site.id, at=now - timedelta(days=2), now=now)
