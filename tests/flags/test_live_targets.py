"""flags.live_targets: what flag evaluation reads. Every flag (or those asked), with its
ACTIVE target segments only, in one SQL statement whatever the number of flags and segments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.flags import service as flags
from tests.factories import Api, count_statements, segment
from tests.flags.test_flags_api import _create


async def _site_with_flags(api: Api) -> dict[str, int]:
    """Segments in each status, and flags targeting them."""
    now = datetime.now(UTC)
    ids = {
        "active": await segment(api, "active"),
        "inactive": await segment(api, "inactive", isActive=False),
        "scheduled": await segment(
            api, "scheduled", startsAt=(now + timedelta(days=1)).isoformat()
        ),
        "expired": await segment(
            api,
            "expired",
            startsAt=(now - timedelta(days=2)).isoformat(),
            endsAt=(now - timedelta(days=1)).isoformat(),
        ),
        "windowed": await segment(
            api,
            "windowed",
            startsAt=(now - timedelta(days=1)).isoformat(),
            endsAt=(now + timedelta(days=1)).isoformat(),
        ),
    }
    pks = {name: int(s["id"]) for name, s in ids.items()}
    await _create(api, "everything", segmentIds=[s["id"] for s in ids.values()])
    await _create(api, "dormant", segmentIds=[ids["inactive"]["id"]], enabled=False)
    await _create(api, "nothing")
    return pks


async def test_live_targets_keep_only_active_segments_of_every_flag(api: Api) -> None:
    # given flags targeting segments in every status
    pks = await _site_with_flags(api)

    # when the live targets of the site are read
    with count_statements() as statements:
        targets = await flags.live_targets(site_id=api.site.id)

    # then every flag comes in key order, each with its ACTIVE segments only, in one statement
    assert [(t.key, t.enabled, t.segment_pks) for t in targets] == [
        ("dormant", False, ()),
        ("everything", True, tuple(sorted([pks["active"], pks["windowed"]]))),
        ("nothing", True, ()),
    ]
    assert len(statements) == 1


async def test_live_targets_of_the_keys_asked(api: Api) -> None:
    # given flags
    pks = await _site_with_flags(api)

    # when some keys are asked, one of them twice and one unknown
    targets = await flags.live_targets(
        site_id=api.site.id, keys=["everything", "ghost", "everything", "nothing"]
    )

    # then only the flags that exist among them come
    assert {t.key: t.segment_pks for t in targets} == {
        "everything": tuple(sorted([pks["active"], pks["windowed"]])),
        "nothing": (),
    }
    # and no keys asked is no flags
    assert await flags.live_targets(site_id=api.site.id, keys=[]) == []


async def test_live_targets_follow_the_clock(api: Api) -> None:
    # given flags targeting a scheduled segment
    pks = await _site_with_flags(api)

    # when asked as of two days from now
    later = datetime.now(UTC) + timedelta(days=2)
    targets = await flags.live_targets(site_id=api.site.id, keys=["everything"], now=later)

    # then the scheduled segment has started, and the windowed one has ended
    assert targets[0].segment_pks == tuple(sorted([pks["active"], pks["scheduled"]]))


async def test_live_targets_never_show_another_sites_flags(api: Api, other_api: Api) -> None:
    # given flags on acme and one on globex
    await _site_with_flags(api)
    await _create(other_api, "globex-only")

    # then each site sees only its own
    assert [t.key for t in await flags.live_targets(site_id=other_api.site.id)] == ["globex-only"]
    assert "globex-only" not in [t.key for t in await flags.live_targets(site_id=api.site.id)]
