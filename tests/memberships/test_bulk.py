"""The set-based bulk membership engine, at the service level, on a real database."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.companies.models import Company
from app.db import fetch, is_postgres
from app.errors import DomainError, ErrorCode
from app.members.models import Member, bucket_of
from app.memberships import bulk, kept, path
from app.memberships import move as moving
from app.memberships.bulk import ChangeResult, Mode
from app.memberships.models import ListedSource, SegmentCompany, SegmentExclusion, SegmentMember
from app.segments.models import Segment

NOW = datetime(2025, 6, 1, 12, 0, 0, 250_000, tzinfo=UTC)
LATER = NOW + timedelta(days=7)
EARLIER = NOW - timedelta(hours=1)


@dataclass
class World:
    site_id: int
    other_site_id: int
    segment: int
    target: int
    other_segment: int  # of the other site


async def _members(site_id: int, ids: Sequence[str]) -> None:
    await Member.bulk_create(
        [Member(site_id=site_id, external_id=i, bucket=bucket_of(i), attributes={}) for i in ids]
    )


async def _companies(site_id: int, ids: Sequence[str]) -> None:
    await Company.bulk_create([Company(site_id=site_id, external_id=i, name=i) for i in ids])


@pytest.fixture
async def world(db: None) -> World:
    site = await create_site(slug="acme")
    other = await create_site(slug="globex")
    await _members(site.id, [f"m{i}" for i in range(1, 11)])
    await _members(other.id, ["m1", "m2", "o1"])
    await _companies(site.id, ["c1", "c2", "c3", "c4"])
    await _companies(other.id, ["c1", "oc"])
    segment = await Segment.create(site_id=site.id, name="vip")
    target = await Segment.create(site_id=site.id, name="gold")
    other_segment = await Segment.create(site_id=other.id, name="vip")
    return World(site.id, other.id, segment.id, target.id, other_segment.id)


async def members(w: World, ids: Sequence[str], mode: Mode, **kw: Any) -> ChangeResult:
    kw.setdefault("now", NOW)
    kw.setdefault("segment_id", w.segment)
    kw.setdefault("site_id", w.site_id)
    async with in_transaction() as tx:
        return await bulk.change_members(tx, external_ids=ids, mode=mode, **kw)


async def _listed(w: World, lists: str, ids: Sequence[str], mode: Mode, **kw: Any) -> ChangeResult:
    async with in_transaction() as tx:
        return await bulk.change_list(
            tx,
            lists=lists,
            site_id=w.site_id,
            segment_id=w.segment,
            external_ids=ids,
            mode=mode,
            now=NOW,
            **kw,
        )


async def companies(w: World, ids: Sequence[str], mode: Mode, **kw: Any) -> ChangeResult:
    return await _listed(w, "companies", ids, mode, **kw)


async def exclusions(w: World, ids: Sequence[str], mode: Mode) -> ChangeResult:
    return await _listed(w, "exclusions", ids, mode)


async def move(
    w: World, ids: Sequence[str] | None, to: int | None
) -> tuple[ChangeResult, ChangeResult | None]:
    async with in_transaction() as tx:
        return await moving.move_members(
            tx,
            site_id=w.site_id,
            from_segment_id=w.segment,
            to_segment_id=to,
            external_ids=ids,
            now=NOW,
        )


async def listing(segment_id: int) -> dict[str, dict[str, Any]]:
    """The listed rows of a segment, read through the ORM, by external id."""
    rows = await SegmentMember.filter(segment_id=segment_id).values(
        "member__external_id", "source", "added_at", "expires_at", "site_id"
    )
    return {r.pop("member__external_id"): r for r in rows}


async def listed(segment_id: int) -> set[str]:
    return set(await listing(segment_id))


async def listed_companies(segment_id: int) -> set[str]:
    rows = await SegmentCompany.filter(segment_id=segment_id).values_list(
        "company__external_id", flat=True
    )
    return {str(r) for r in rows}


async def excluded(segment_id: int) -> set[str]:
    rows = await SegmentExclusion.filter(segment_id=segment_id).values_list(
        "member__external_id", flat=True
    )
    return {str(r) for r in rows}


async def put(segment_id: int, site_id: int, external_id: str, **kw: Any) -> None:
    """A listing written through the ORM."""
    member = await Member.get(site_id=site_id, external_id=external_id)
    kw.setdefault("added_at", EARLIER - timedelta(days=30))
    await SegmentMember.create(site_id=site_id, segment_id=segment_id, member_id=member.id, **kw)


async def snapshot() -> dict[str, list[dict[str, Any]]]:
    tables = ("members", "companies", "segment_members", "segment_companies", "segment_exclusions")
    return {t: await fetch(f"SELECT * FROM {t} ORDER BY id") for t in tables}


def counts(r: ChangeResult) -> tuple[int, int, int, int]:
    return r.added, r.removed, r.unchanged, r.unknown_count


# --------------------------------------------------------------------------- members


async def test_add_lists_new_ids_once_and_reports_unknown(world: World) -> None:
    r = await members(world, ["m1", "m2", "m2", "x1", "m3", "x1"], Mode.ADD)
    assert counts(r) == (3, 0, 0, 1)
    assert r.unknown_ids == ["x1"]
    assert r.added_sample == ["m1", "m2", "m3"]
    assert r.removed_sample == []
    assert r.created == 0
    rows = await listing(world.segment)
    assert set(rows) == {"m1", "m2", "m3"}
    assert rows["m1"] == {
        "source": ListedSource.MANUAL,
        "added_at": NOW,
        "expires_at": None,
        "site_id": world.site_id,
    }

    r = await members(world, ["m3", "m4", "m2"], Mode.ADD, source=ListedSource.IMPORT)
    assert counts(r) == (1, 0, 2, 0)
    assert r.added_sample == ["m4"]
    rows = await listing(world.segment)
    assert rows["m4"]["source"] is ListedSource.IMPORT
    assert rows["m3"]["source"] is ListedSource.MANUAL  # an existing listing keeps its source


async def test_add_nothing(world: World) -> None:
    r = await members(world, [], Mode.ADD)
    assert r == ChangeResult(0, 0, 0, [], 0)
    assert await listed(world.segment) == set()


async def test_override_makes_the_list_exactly_the_known_ids(world: World) -> None:
    await members(world, ["m1", "m2", "m3"], Mode.ADD)
    r = await members(world, ["m4", "m2", "x", "m4", "m5"], Mode.OVERRIDE)
    assert counts(r) == (2, 2, 1, 1)
    assert r.unknown_ids == ["x"]
    assert r.added_sample == ["m4", "m5"]
    assert r.removed_sample == ["m1", "m3"]
    assert await listed(world.segment) == {"m2", "m4", "m5"}


async def test_override_with_nothing_empties_the_list(world: World) -> None:
    await members(world, ["m1", "m2", "m3"], Mode.ADD)
    r = await members(world, [], Mode.OVERRIDE)
    assert counts(r) == (0, 3, 0, 0)
    assert r.removed_sample == ["m1", "m2", "m3"]
    assert await listed(world.segment) == set()


async def test_delete_unlists_listed_ids(world: World) -> None:
    await members(world, ["m1", "m2", "m3"], Mode.ADD)
    r = await members(world, ["m3", "m1", "m5", "x", "m1"], Mode.DELETE)
    assert counts(r) == (0, 2, 1, 1)
    assert r.removed_sample == ["m3", "m1"]
    assert r.added_sample == []
    assert r.unknown_ids == ["x"]
    assert await listed(world.segment) == {"m2"}


async def test_unknown_ids_first_thousand_in_input_order(world: World) -> None:
    unknown = [f"nobody-{i}" for i in range(1500, 0, -1)]
    ids = ["m1", *unknown[:700], "m2", *unknown[700:], unknown[3]]
    r = await members(world, ids, Mode.ADD)
    assert counts(r) == (2, 0, 0, 1500)
    assert r.unknown_ids == unknown[:1000]


async def test_create_missing_makes_bare_members(world: World) -> None:
    r = await members(world, ["m1", "new-b", "new-a", "new-b"], Mode.ADD, create_missing=True)
    assert counts(r) == (3, 0, 0, 0)
    assert r.created == 2
    assert r.unknown_ids == []
    assert r.added_sample == ["m1", "new-b", "new-a"]
    made = await Member.filter(site_id=world.site_id, external_id__startswith="new-").order_by("id")
    assert sorted(m.external_id for m in made) == ["new-a", "new-b"]
    for m in made:
        assert m.bucket == bucket_of(m.external_id)
        assert m.attributes == {}
        assert m.created_at == NOW
        assert m.updated_at == NOW
        assert m.email is None and m.company_id is None
    assert await listed(world.segment) == {"m1", "new-a", "new-b"}
    # the other site's member of the same id is not reused: "o1" is new for this site
    r = await members(world, ["o1"], Mode.OVERRIDE, create_missing=True)
    assert (r.created, *counts(r)) == (1, 1, 3, 0, 0)
    assert await Member.filter(external_id="o1").count() == 2


async def test_create_missing_refuses_ids_it_cannot_store(world: World) -> None:
    before = await snapshot()
    for bad in ("", "x" * 256):
        with pytest.raises(DomainError) as caught:
            await members(world, ["m1", bad], Mode.ADD, create_missing=True)
        assert caught.value.code is ErrorCode.INVALID
    assert await snapshot() == before
    r = await members(world, ["m1", "x" * 256], Mode.ADD)  # without creating: merely unknown
    assert counts(r) == (1, 0, 0, 1)


async def test_concurrent_creation_of_the_same_new_members(world: World) -> None:
    new = [f"n{i}" for i in range(60)]
    segments = [(await Segment.create(site_id=world.site_id, name=f"s{i}")).id for i in range(8)]
    rng = random.Random(8)
    picks = [rng.sample(new, 40) for _ in segments]

    async def run(segment_id: int, ids: list[str]) -> ChangeResult:
        return await members(world, ids, Mode.ADD, segment_id=segment_id, create_missing=True)

    results = await asyncio.gather(*(run(s, ids) for s, ids in zip(segments, picks, strict=True)))
    assert sum(r.created for r in results) == len(set().union(*picks))
    assert [r.added for r in results] == [40] * len(segments)
    assert await Member.filter(site_id=world.site_id, external_id__startswith="n").count() == len(
        set().union(*picks)
    )
    for s, ids in zip(segments, picks, strict=True):
        assert await listed(s) == set(ids)


async def test_create_missing_does_not_apply_to_delete(world: World) -> None:
    r = await members(world, ["x"], Mode.DELETE, create_missing=True)
    assert counts(r) == (0, 0, 0, 1)
    assert r.created == 0
    assert not await Member.filter(external_id="x").exists()


# --------------------------------------------------------------------------- expiry


async def test_expiry_is_written_and_updated_by_a_new_add(world: World) -> None:
    r = await members(world, ["m1", "m2"], Mode.ADD, expires_at=LATER)
    assert counts(r) == (2, 0, 0, 0)
    rows = await listing(world.segment)
    assert rows["m1"]["expires_at"] == LATER
    assert rows["m1"]["added_at"] == NOW

    later_still = LATER + timedelta(days=1)
    r = await members(world, ["m1", "m3"], Mode.ADD, expires_at=later_still)
    assert counts(r) == (1, 0, 1, 0)
    rows = await listing(world.segment)
    assert rows["m1"]["expires_at"] == later_still
    assert rows["m1"]["added_at"] == NOW
    assert rows["m2"]["expires_at"] == LATER

    r = await members(world, ["m1"], Mode.ADD, now=NOW + timedelta(hours=1))
    assert counts(r) == (0, 0, 1, 0)
    assert (await listing(world.segment))["m1"]["expires_at"] == later_still  # kept


async def test_expired_listing_is_revived_by_add(world: World) -> None:
    await put(world.segment, world.site_id, "m1", expires_at=EARLIER, source=ListedSource.IMPORT)
    await put(world.segment, world.site_id, "m2", expires_at=NOW)  # expires_at <= now: expired
    await put(world.segment, world.site_id, "m3", expires_at=LATER)
    r = await members(world, ["m1", "m2", "m3"], Mode.ADD)
    assert counts(r) == (2, 0, 1, 0)
    assert r.added_sample == ["m1", "m2"]
    rows = await listing(world.segment)
    assert rows["m1"] == {
        "source": ListedSource.MANUAL,
        "added_at": NOW,
        "expires_at": None,
        "site_id": world.site_id,
    }
    assert rows["m3"]["expires_at"] == LATER
    assert rows["m3"]["added_at"] == EARLIER - timedelta(days=30)

    await put(world.segment, world.site_id, "m4", expires_at=EARLIER)
    r = await members(world, ["m4"], Mode.ADD, expires_at=LATER)
    assert counts(r) == (1, 0, 0, 0)
    assert (await listing(world.segment))["m4"]["expires_at"] == LATER


async def test_delete_records_only_the_members_who_leave_with_its_payload(world: World) -> None:
    """DELETE (one statement on PostgreSQL): the listings of the input go, expired ones too;
    only the member no company or exclusion keeps where it was is recorded, and the
    counter follows; counts, samples and unknown ids as the general path gives them."""
    c1 = await Company.get(site_id=world.site_id, external_id="c1")
    await Member.filter(site_id=world.site_id, external_id__in=["m2", "m6"]).update(
        company_id=c1.id
    )
    await SegmentCompany.create(
        site_id=world.site_id, segment_id=world.segment, company_id=c1.id, added_at=EARLIER
    )
    m3 = await Member.get(site_id=world.site_id, external_id="m3")
    await SegmentExclusion.create(
        site_id=world.site_id, segment_id=world.segment, member_id=m3.id, added_at=EARLIER
    )
    for i in ("m1", "m2", "m3", "m7", "m8"):
        await put(world.segment, world.site_id, i)
    await put(world.segment, world.site_id, "m4", expires_at=EARLIER)
    r = await members(world, ["zz", "m8", "m4", "m3", "m2", "m1", "m5", "yy"], Mode.DELETE)
    assert counts(r) == (0, 4, 2, 2)
    assert r.removed_sample == ["m8", "m3", "m2", "m1"]
    assert r.unknown_ids == ["zz", "yy"]
    assert await listed(world.segment) == {"m7"}
    pg = is_postgres()
    rows = await fetch(
        f"SELECT c.kind, c.cause, u.value AS ref FROM {kept.expanded(pg, 'membership_changes')}"
        " WHERE c.segment_id = $1 ORDER BY c.id, u.key",
        [world.segment],
    )
    assert [(r["kind"], r["cause"], r["ref"]) for r in rows] == [  # in input order
        ("EXITED", "UNLISTED", "m8"),
        ("EXITED", "UNLISTED", "m1"),
    ]
    count = await fetch(
        "SELECT member_count FROM segment_counts WHERE segment_id = $1", [world.segment]
    )
    assert count[0]["member_count"] == 3  # m2, m6 through c1, m7 listed


async def test_expired_listings_do_not_count_as_removed(world: World) -> None:
    await put(world.segment, world.site_id, "m1", expires_at=EARLIER)
    await put(world.segment, world.site_id, "m2", expires_at=EARLIER)
    await put(world.segment, world.site_id, "m3", expires_at=LATER)
    await put(world.segment, world.site_id, "m4")
    r = await members(world, ["m1", "m3"], Mode.DELETE)
    assert counts(r) == (0, 1, 1, 0)
    assert r.removed_sample == ["m3"]
    assert await listed(world.segment) == {"m2", "m4"}

    r = await members(world, ["m5"], Mode.OVERRIDE)
    assert counts(r) == (1, 1, 0, 0)
    assert r.removed_sample == ["m4"]
    assert await listed(world.segment) == {"m5"}


async def test_expiry_written_with_another_offset_compares_as_an_instant(world: World) -> None:
    # stored by the ORM as "...07:30:00-05:00": as text it sorts before NOW, but is later
    eastern = timezone(timedelta(hours=-5))
    await put(
        world.segment,
        world.site_id,
        "m1",
        expires_at=(NOW + timedelta(minutes=30)).astimezone(eastern),
    )
    await put(
        world.segment,
        world.site_id,
        "m2",
        expires_at=(NOW - timedelta(minutes=30)).astimezone(timezone(timedelta(hours=5))),
    )
    r = await members(world, ["m1", "m2"], Mode.ADD)
    assert counts(r) == (1, 0, 1, 0)
    assert r.added_sample == ["m2"]


async def test_an_expiry_in_the_past_is_refused(world: World) -> None:
    for mode in (Mode.ADD, Mode.OVERRIDE):
        for expires_at in (NOW, EARLIER):
            with pytest.raises(DomainError) as caught:
                await members(world, ["m1"], mode, expires_at=expires_at)
            assert caught.value.code is ErrorCode.INVALID
    assert await listed(world.segment) == set()


async def test_override_revives_expired_listings_in_the_input(world: World) -> None:
    await put(world.segment, world.site_id, "m1", expires_at=EARLIER)
    await put(world.segment, world.site_id, "m2", expires_at=LATER)
    r = await members(world, ["m1", "m2"], Mode.OVERRIDE, expires_at=LATER + timedelta(days=1))
    assert counts(r) == (1, 0, 1, 0)
    rows = await listing(world.segment)
    assert rows["m1"]["expires_at"] == rows["m2"]["expires_at"] == LATER + timedelta(days=1)
    assert rows["m1"]["added_at"] == NOW
    assert rows["m2"]["added_at"] == EARLIER - timedelta(days=30)


async def test_one_string_is_not_a_list_of_ids(world: World) -> None:
    with pytest.raises(TypeError):
        await members(world, "m1", Mode.ADD)


async def test_naive_now_is_taken_as_utc(world: World) -> None:
    await put(world.segment, world.site_id, "m1", expires_at=NOW + timedelta(seconds=1))
    r = await members(world, ["m1"], Mode.ADD, now=NOW.replace(tzinfo=None))
    assert counts(r) == (0, 0, 1, 0)


# --------------------------------------------------------------------------- dry run


@pytest.mark.parametrize("mode", list(Mode))
async def test_dry_run_reports_the_real_counts_and_changes_nothing(
    world: World, mode: Mode
) -> None:
    await put(world.segment, world.site_id, "m1", expires_at=EARLIER)
    await put(world.segment, world.site_id, "m2", expires_at=LATER)
    await put(world.segment, world.site_id, "m3")
    await put(world.segment, world.site_id, "m4")
    ids = ["m1", "m2", "new-1", "m5", "m2", "x", "m6"]
    before = await snapshot()
    dry = await members(world, ids, mode, create_missing=True, dry_run=True, expires_at=LATER)
    assert await snapshot() == before
    real = await members(world, ids, mode, create_missing=True, expires_at=LATER)
    assert dry == real
    assert await snapshot() != before

    dry = await companies(world, ["c1", "c2", "zz"], mode, dry_run=True)
    real = await companies(world, ["c1", "c2", "zz"], mode)
    assert dry == real


async def test_dry_run_without_create_missing(world: World) -> None:
    await members(world, ["m1", "m2"], Mode.ADD)
    before = await snapshot()
    dry = await members(world, ["m2", "m3", "x"], Mode.OVERRIDE, dry_run=True)
    assert await snapshot() == before
    assert counts(dry) == (1, 1, 1, 1)
    assert dry.unknown_ids == ["x"]
    assert dry == await members(world, ["m2", "m3", "x"], Mode.OVERRIDE)


# --------------------------------------------------------------------------- companies, exclusions


async def test_companies(world: World) -> None:
    r = await companies(world, ["c1", "c2", "c2", "oc"], Mode.ADD)
    assert counts(r) == (2, 0, 0, 1)
    assert r.unknown_ids == ["oc"]  # the other site's company
    assert r.added_sample == ["c1", "c2"]
    assert await listed_companies(world.segment) == {"c1", "c2"}
    rows = await SegmentCompany.filter(segment_id=world.segment).values("added_at", "site_id")
    assert rows[0] == {"added_at": NOW, "site_id": world.site_id}

    r = await companies(world, ["c2", "c3"], Mode.ADD)
    assert counts(r) == (1, 0, 1, 0)

    r = await companies(world, ["c3", "c4", "nope"], Mode.OVERRIDE)
    assert counts(r) == (1, 2, 1, 1)
    assert r.removed_sample == ["c1", "c2"]
    assert await listed_companies(world.segment) == {"c3", "c4"}

    r = await companies(world, ["c4", "c1"], Mode.DELETE)
    assert counts(r) == (0, 1, 1, 0)
    assert r.removed_sample == ["c4"]
    assert await listed_companies(world.segment) == {"c3"}

    r = await companies(world, [], Mode.OVERRIDE)
    assert counts(r) == (0, 1, 0, 0)
    assert await listed_companies(world.segment) == set()


async def test_exclusions(world: World) -> None:
    r = await exclusions(world, ["m1", "m2", "m1", "o1"], Mode.ADD)
    assert counts(r) == (2, 0, 0, 1)
    assert r.unknown_ids == ["o1"]
    assert await excluded(world.segment) == {"m1", "m2"}
    rows = await SegmentExclusion.filter(segment_id=world.segment).values("added_at", "site_id")
    assert rows[0] == {"added_at": NOW, "site_id": world.site_id}

    r = await exclusions(world, ["m2", "m3"], Mode.OVERRIDE)
    assert counts(r) == (1, 1, 1, 0)
    assert r.removed_sample == ["m1"]
    assert await excluded(world.segment) == {"m2", "m3"}

    r = await exclusions(world, ["m3", "m4"], Mode.DELETE)
    assert counts(r) == (0, 1, 1, 0)
    assert await excluded(world.segment) == {"m2"}
    assert await listed(world.segment) == set()  # the listings are another table


# --------------------------------------------------------------------------- move


async def _move_fixture(w: World) -> None:
    await put(w.segment, w.site_id, "m1")
    await put(w.segment, w.site_id, "m2", expires_at=LATER)
    await put(w.segment, w.site_id, "m3", expires_at=EARLIER)  # expired: dropped, not moved
    await put(w.segment, w.site_id, "m5", source=ListedSource.IMPORT)
    await put(w.target, w.site_id, "m2")  # already in the target: kept as it is
    await put(w.target, w.site_id, "m5", expires_at=EARLIER)  # expired in the target: revived
    await put(w.target, w.site_id, "m9")


async def test_move_everything_to_a_target(world: World) -> None:
    await _move_fixture(world)
    out, into = await move(world, None, world.target)
    assert counts(out) == (0, 3, 0, 0)
    assert out.removed_sample == ["m1", "m2", "m5"]
    assert into is not None
    assert counts(into) == (2, 0, 1, 0)
    assert into.added_sample == ["m1", "m5"]
    assert await listed(world.segment) == set()
    rows = await listing(world.target)
    assert set(rows) == {"m1", "m2", "m5", "m9"}
    assert rows["m1"]["added_at"] == NOW
    assert rows["m2"]["expires_at"] is None
    assert rows["m5"]["source"] is ListedSource.MANUAL
    assert rows["m5"]["expires_at"] is None


async def test_move_carries_the_expiry(world: World) -> None:
    await put(world.segment, world.site_id, "m2", expires_at=LATER)
    _, into = await move(world, ["m2"], world.target)
    assert into is not None and counts(into) == (1, 0, 0, 0)
    rows = await listing(world.target)
    assert rows["m2"]["expires_at"] == LATER
    assert rows["m2"]["source"] is ListedSource.MANUAL


async def test_move_some_ids_to_a_target(world: World) -> None:
    await _move_fixture(world)
    out, into = await move(world, ["m1", "m3", "m7", "x", "m1", "m2"], world.target)
    assert counts(out) == (0, 2, 2, 1)
    assert out.unknown_ids == ["x"]
    assert out.removed_sample == ["m1", "m2"]
    assert into is not None
    assert counts(into) == (1, 0, 1, 0)
    assert into.added_sample == ["m1"]
    assert await listed(world.segment) == {"m5"}
    assert await listed(world.target) == {"m1", "m2", "m5", "m9"}


async def test_move_without_target_only_removes(world: World) -> None:
    await _move_fixture(world)
    before = await listing(world.target)
    out, into = await move(world, ["m2", "m3"], None)
    assert into is None
    assert counts(out) == (0, 1, 1, 0)
    assert await listed(world.segment) == {"m1", "m5"}
    out, into = await move(world, None, None)
    assert into is None
    assert counts(out) == (0, 2, 0, 0)
    assert await listed(world.segment) == set()
    assert await listing(world.target) == before


async def test_move_of_no_ids_moves_nothing(world: World) -> None:
    await _move_fixture(world)
    before = await snapshot()
    out, into = await move(world, [], world.target)
    assert counts(out) == (0, 0, 0, 0)
    assert into is not None and counts(into) == (0, 0, 0, 0)
    assert await snapshot() == before


async def test_move_to_the_same_segment_is_refused(world: World) -> None:
    with pytest.raises(ValueError):
        await move(world, None, world.segment)


# --------------------------------------------------------------------------- tenancy, transactions


async def test_another_sites_members_are_never_touched(world: World) -> None:
    await put(world.other_segment, world.other_site_id, "m1")
    await put(world.other_segment, world.other_site_id, "o1")
    theirs = await listing(world.other_segment)

    r = await members(world, ["m1", "o1"], Mode.ADD)
    assert counts(r) == (1, 0, 0, 1)
    assert r.unknown_ids == ["o1"]
    ours = await SegmentMember.filter(segment_id=world.segment).values("member__site_id")
    assert ours == [{"member__site_id": world.site_id}]

    r = await members(world, ["o1"], Mode.OVERRIDE)
    assert counts(r) == (0, 1, 0, 1)
    r = await members(world, ["m1", "o1"], Mode.DELETE)
    assert counts(r) == (0, 0, 1, 1)
    await exclusions(world, ["m1"], Mode.OVERRIDE)
    await move(world, None, world.target)
    assert await listing(world.other_segment) == theirs
    assert await excluded(world.other_segment) == set()


async def test_a_failure_in_the_transaction_changes_nothing(world: World) -> None:
    await members(world, ["m1", "m2"], Mode.ADD)
    before = await snapshot()
    with pytest.raises(RuntimeError):
        async with in_transaction() as tx:
            await bulk.change_members(
                tx,
                site_id=world.site_id,
                segment_id=world.segment,
                external_ids=["m3", "new"],
                mode=Mode.OVERRIDE,
                create_missing=True,
                now=NOW,
            )
            await bulk.change_list(
                tx,
                lists="companies",
                site_id=world.site_id,
                segment_id=world.segment,
                external_ids=["c1"],
                mode=Mode.ADD,
                now=NOW,
            )
            await moving.move_members(
                tx,
                site_id=world.site_id,
                from_segment_id=world.segment,
                to_segment_id=world.target,
                external_ids=None,
                now=NOW,
            )
            raise RuntimeError("boom")
    assert await snapshot() == before


async def test_several_changes_in_one_transaction(world: World) -> None:
    async with in_transaction() as tx:
        kw: dict[str, Any] = {"site_id": world.site_id, "now": NOW}
        a = await bulk.change_members(
            tx, segment_id=world.segment, external_ids=["m1", "m2"], mode=Mode.ADD, **kw
        )
        b = await bulk.change_members(
            tx, segment_id=world.target, external_ids=["m2", "m3"], mode=Mode.ADD, **kw
        )
        c = await bulk.change_members(
            tx, segment_id=world.segment, external_ids=["m2", "m3"], mode=Mode.OVERRIDE, **kw
        )
        d = await bulk.change_list(
            tx,
            lists="exclusions",
            segment_id=world.segment,
            external_ids=["m3"],
            mode=Mode.ADD,
            **kw,
        )
    assert [counts(x) for x in (a, b, c, d)] == [
        (2, 0, 0, 0),
        (2, 0, 0, 0),
        (1, 1, 1, 0),
        (1, 0, 0, 0),
    ]
    assert await listed(world.segment) == {"m2", "m3"}
    assert await listed(world.target) == {"m2", "m3"}


# --------------------------------------------------------------------------- concurrency


def _replay(state: set[str], mode: Mode, ids: Sequence[str]) -> tuple[int, int, int, int]:
    given = set(ids)
    if mode is Mode.ADD:
        counted = (len(given - state), 0, len(given & state), 0)
        state |= given
    elif mode is Mode.DELETE:
        counted = (0, len(given & state), len(given - state), 0)
        state -= given
    else:
        counted = (len(given - state), len(state - given), len(given & state), 0)
        state.clear()
        state |= given
    return counted


async def test_concurrent_changes_of_one_segment_serialise(world: World) -> None:
    pool = [f"p{i}" for i in range(80)]
    await _members(world.site_id, pool)
    rng = random.Random(20250601)
    ops = [(rng.choice(list(Mode)), rng.sample(pool, rng.randint(5, 40))) for _ in range(20)]
    order: list[int] = []
    results: dict[int, ChangeResult] = {}

    async def run(i: int) -> None:
        mode, ids = ops[i]
        async with in_transaction() as tx:
            await path.find_and_lock(tx, site_id=world.site_id, refs=[(world.segment, ())])
            # the lock is held until commit, so the order of taking it is the commit order
            order.append(i)
            await asyncio.sleep(0)
            results[i] = await bulk.change_members(
                tx,
                site_id=world.site_id,
                segment_id=world.segment,
                external_ids=ids,
                mode=mode,
                now=NOW,
            )

    await asyncio.gather(*(run(i) for i in range(len(ops))))
    assert sorted(order) == list(range(len(ops)))
    state: set[str] = set()
    for i in order:
        assert counts(results[i]) == _replay(state, *ops[i]), f"operation {i}"
    assert await listed(world.segment) == state


# --------------------------------------------------------------------------- volume


async def test_a_hundred_thousand_ids(world: World) -> None:
    ids = [f"u{i:06d}" for i in range(100_000)]
    timings: dict[str, float] = {}

    start = time.perf_counter()
    r = await members(world, ids, Mode.ADD, create_missing=True)
    timings["ADD+create"] = time.perf_counter() - start
    assert (r.created, *counts(r)) == (100_000, 100_000, 0, 0, 0)
    assert r.added_sample == ids[:100]

    half = [*ids[50_000:], *(f"v{i:06d}" for i in range(50_000))]
    start = time.perf_counter()
    r = await members(world, half, Mode.OVERRIDE, create_missing=True)
    timings["OVERRIDE+create"] = time.perf_counter() - start
    assert (r.created, *counts(r)) == (50_000, 50_000, 50_000, 50_000, 0)
    assert r.removed_sample == ids[:100]
    assert r.added_sample == half[50_000:50_100]

    start = time.perf_counter()
    r = await members(world, ids, Mode.ADD)
    timings["ADD"] = time.perf_counter() - start
    assert counts(r) == (50_000, 0, 50_000, 0)

    start = time.perf_counter()
    r = await members(world, half, Mode.DELETE)
    timings["DELETE"] = time.perf_counter() - start
    assert counts(r) == (0, 100_000, 0, 0)

    rows = await fetch("SELECT COUNT(*) AS n FROM segment_members")
    assert int(rows[0]["n"]) == 50_000
    print("\n100k ids:", ", ".join(f"{k} {v:.2f}s" for k, v in timings.items()))
