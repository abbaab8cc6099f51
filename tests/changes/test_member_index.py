"""The record's member index (written in the background, past a per-site watermark) gives the
same answers as reading every row: a member's changes (membershipChanges(memberId:)) and the
earliest change after a moment (isMember(at:), memberSegments(at:)), with the watermark
anywhere, rows written after it, another site writing the same member ids, and rows pruned."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.transactions import in_transaction

from app.auth.service import create_site
from app.changes import feed, history, index
from app.changes.models import ChangeCause, ChangeKind
from app.changes.record import Change, lock_site, write
from app.changes.sweeper import prune, sweep
from app.db import fetch
from tests.factories import Api, members, segment

REFS = ["m1", "m2", "m3", "m4", "m5"]
SEGMENTS = [11, 12, 13]
BASE = datetime(2026, 6, 1, tzinfo=UTC)
_sites = itertools.count()


@dataclass(frozen=True)
class Recorded:
    id: int
    site: int
    segment: int
    ref: str
    kind: ChangeKind
    at: datetime


async def _write(
    site: int, segment: int, refs: list[str], kind: ChangeKind, at: datetime
) -> list[Recorded]:
    """One write: changes of one segment, kind and moment (one row of the record)."""
    changes = [
        Change(
            segment_id=segment,
            member_id=100 + REFS.index(r),
            member_ref=r,
            kind=kind,
            cause=ChangeCause.LISTED,
            at=at,
        )
        for r in refs
    ]
    async with in_transaction() as tx:
        await lock_site(site, tx)
        last = await write(site, changes, tx)
    first = last - len(refs) + 1
    return [Recorded(first + i, site, segment, r, kind, at) for i, r in enumerate(refs)]


async def _answers(site: int, ref: str, *, indexed: bool, after: int, at: datetime) -> Any:
    """Every reader the index serves, for one member."""
    listed = await feed.list_changes(
        site_id=site, after=after, first=1000, member_ref=ref, indexed=indexed
    )
    few = await feed.list_changes(
        site_id=site, after=after, first=2, member_ref=ref, segment_pk=SEGMENTS[0], indexed=indexed
    )
    earliest = await history.earliest_after(site_id=site, member_ref=ref, at=at, indexed=indexed)
    one = await history.earliest_after(
        site_id=site, member_ref=ref, at=at, segment_pk=SEGMENTS[1], indexed=indexed
    )
    return (
        [(c.id, c.segment_id, c.member_ref, c.kind) for c in listed],
        [c.id for c in few],
        earliest,
        one,
    )


def _expected(recorded: list[Recorded], site: int, ref: str, *, after: int, at: datetime) -> Any:
    """What the readers must answer, from the writes themselves."""
    mine = [r for r in recorded if r.site == site and r.ref == ref]
    listed = [(r.id, r.segment, r.ref, r.kind) for r in mine if r.id > after]
    few = [r.id for r in mine if r.id > after and r.segment == SEGMENTS[0]][:2]
    earliest: dict[int, ChangeKind] = {}
    for r in sorted((r for r in mine if r.at > at), key=lambda r: (r.at, r.id)):
        earliest.setdefault(r.segment, r.kind)
    one = {s: k for s, k in earliest.items() if s == SEGMENTS[1]}
    return listed, few, earliest, one


writes = st.tuples(
    st.just("write"),
    st.booleans(),  # this site's, or the other's (the same member ids)
    st.sampled_from(SEGMENTS),
    st.lists(st.sampled_from(REFS), min_size=1, max_size=4, unique=True),
    st.sampled_from(list(ChangeKind)),
    st.integers(min_value=0, max_value=20),  # hours after BASE
)
indexings = st.tuples(st.just("index"), st.integers(min_value=1, max_value=6))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    ops=st.lists(st.one_of(writes, indexings), max_size=14),
    ref=st.sampled_from(REFS),
    hours=st.integers(min_value=-1, max_value=21),
    after_index=st.integers(min_value=0, max_value=30),
)
async def test_indexed_answers_equal_the_scan_wherever_the_watermark_is(
    db: None, ops: list[tuple[Any, ...]], ref: str, hours: int, after_index: int
) -> None:
    # given two sites writing changes of the same member ids, and the index run (a batch of a
    # few changes at a time) between the writes: its watermark anywhere in the record
    n = next(_sites)
    mine = (await create_site(slug=f"index-{n}", name="Mine")).id
    theirs = (await create_site(slug=f"index-other-{n}", name="Theirs")).id
    recorded: list[Recorded] = []
    marks = {0}
    at = BASE + timedelta(hours=hours)
    for op in ops:
        if op[0] == "write":
            _, own, seg, refs, kind, h = op
            site = mine if own else theirs
            recorded += await _write(site, seg, refs, kind, BASE + timedelta(hours=h))
        else:
            await index.index_batch(mine, changes=op[1])
            await index.index_batch(theirs, changes=op[1])
            marks.add(await index.mark(mine))
        # then at every step the index's answers are the scan's, and the writes' own
        ids = sorted(r.id for r in recorded if r.site == mine)
        after = ids[min(after_index, len(ids) - 1)] if ids and after_index else 0
        want = _expected(recorded, mine, ref, after=after, at=at)
        assert await _answers(mine, ref, indexed=False, after=after, at=at) == want
        assert await _answers(mine, ref, indexed=True, after=after, at=at) == want
    # and once every row is indexed, too
    await index.index_site(mine)
    assert await index.mark(mine) == max((r.id for r in recorded if r.site == mine), default=0)
    assert await _answers(mine, ref, indexed=True, after=0, at=at) == _expected(
        recorded, mine, ref, after=0, at=at
    )


async def _entries(site: int) -> list[tuple[int, str]]:
    rows = await fetch(
        "SELECT row_id, member_ref FROM membership_member_rows WHERE site_id = $1"
        " ORDER BY row_id, member_ref",
        [site],
    )
    return [(int(r["row_id"]), str(r["member_ref"])) for r in rows]


async def test_the_index_has_an_entry_per_change_and_a_batch_stops_at_its_size(db: None) -> None:
    # given rows of 3, 2 and 1 changes
    site = (await create_site(slug="index-entries", name="Entries")).id
    a = await _write(site, 11, ["m1", "m2", "m3"], ChangeKind.ENTERED, BASE)
    b = await _write(site, 12, ["m1", "m4"], ChangeKind.ENTERED, BASE)
    c = await _write(site, 11, ["m2"], ChangeKind.EXITED, BASE)
    # when a batch of up to 4 changes is indexed: whole rows, the first two (5 changes: a
    # row is never split, and a batch goes on while it has indexed fewer than 4)
    assert await index.index_batch(site, changes=4) == 5
    assert await index.mark(site) == b[-1].id
    assert await _entries(site) == sorted(
        [(a[-1].id, r) for r in ("m1", "m2", "m3")] + [(b[-1].id, r) for r in ("m1", "m4")]
    )
    # then the rest, then nothing is left to do
    assert await index.index_batch(site, changes=4) == 1
    assert await index.index_batch(site, changes=4) == 0
    assert await index.mark(site) == c[-1].id
    assert len(await _entries(site)) == 6


async def test_indexers_at_once_index_each_row_once(db: None) -> None:
    # given a site with rows to index
    site = (await create_site(slug="index-race", name="Race")).id
    total = 0
    for i in range(12):
        total += len(await _write(site, 11, REFS[: 1 + i % 5], ChangeKind.ENTERED, BASE))
    # when four indexers (as four processes' sweepers would) run at once, in small batches
    await asyncio.gather(*(index.index_site(site, changes=3) for _ in range(4)))
    await index.index_site(site)  # whichever stopped early (another held the site)
    # then every change has one entry, no more
    entries = await _entries(site)
    assert len(entries) == total and len(set(entries)) == total
    rows = await fetch(
        "SELECT COUNT(*) AS n FROM (SELECT row_id, member_ref FROM membership_member_rows"
        " WHERE site_id = $1 GROUP BY row_id, member_ref HAVING COUNT(*) > 1) d",
        [site],
    )
    assert int(rows[0]["n"]) == 0


async def test_pruning_removes_the_entries_with_their_rows(db: None) -> None:
    # given old and recent rows of a site, indexed, and another site's old rows, indexed
    site = (await create_site(slug="index-prune", name="Prune")).id
    other = (await create_site(slug="index-prune-other", name="Other")).id
    old = await _write(site, 11, ["m1", "m2"], ChangeKind.ENTERED, BASE - timedelta(days=200))
    new = await _write(site, 11, ["m1"], ChangeKind.EXITED, BASE)
    theirs = await _write(other, 11, ["m1"], ChangeKind.ENTERED, BASE - timedelta(days=200))
    await index.index_site(site)
    await index.index_site(other)
    # when the site's records older than 100 days are pruned
    assert await prune(site, BASE - timedelta(days=100)) == len(old)
    # then their entries went with them; the recent row's, and the other site's, stay
    assert await _entries(site) == [(new[-1].id, "m1")]
    assert await _entries(other) == [(theirs[-1].id, "m1")]
    listed = await feed.list_changes(site_id=site, after=0, first=10, member_ref="m1")
    assert [c.id for c in listed] == [new[-1].id]


async def test_the_sweeper_indexes_what_was_recorded_since_the_last_sweep(api: Api) -> None:
    # given changes recorded through the API
    gold = await segment(api, "Gold")
    await members(api, "ann", "bob")
    listed = await api.query(
        "mutation($input: UpdateSegmentMembersInput!) {"
        " updateSegmentMembers(input: $input) { added } }",
        {"input": {"segmentId": gold["id"], "memberIds": ["ann", "bob"], "mode": "ADD"}},
    )
    assert listed["updateSegmentMembers"]["added"] == 2
    site = api.site.id
    last = await feed.last_id(site_id=site)
    assert await index.mark(site) == 0
    # when the sweeper runs
    done = await sweep()
    # then the site's rows are indexed up to its newest
    assert done.indexed >= 2
    assert await index.mark(site) == last
    assert sorted(r for _, r in await _entries(site)) == ["ann", "bob"]
    # and the API answers a member's changes from the index alone (no row after the mark)
    answer = await api.query(
        "query($m: ID!) { membershipChanges(memberId: $m, first: 10) {"
        " edges { node { memberId kind cause } } } }",
        {"m": "ann"},
    )
    nodes = [e["node"] for e in answer["membershipChanges"]["edges"]]
    assert nodes == [{"memberId": "ann", "kind": "ENTERED", "cause": "LISTED"}]
