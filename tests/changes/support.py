"""Reading the record and the kept rows, and what a recomputation from scratch says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from app.db import fetch
from app.memberships import catalogue, kept, rebuild
from app.memberships.effective import Query
from app.memberships.service import effective_select

Record = tuple[str, str, str, str]  # segment name, member external id, kind, cause


class _Rollback(Exception):
    pass


class Log:
    """The site's record, read in order; ``new()`` gives what was written since last asked."""

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.seen = 0

    @classmethod
    async def start(cls, site_id: int) -> Log:
        """A log of what is written from now on."""
        log = cls(site_id)
        await log.new()
        return log

    async def new(self) -> list[Record]:
        rows = await fetch(
            "SELECT c.id, s.name, c.segment_id, c.member_ref, c.kind, c.cause"
            " FROM membership_changes c LEFT JOIN segments s ON s.id = c.segment_id"
            " WHERE c.site_id = $1 AND c.id > $2 ORDER BY c.id",
            [self.site_id, self.seen],
        )
        if rows:
            self.seen = int(rows[-1]["id"])
        return [
            (str(r["name"] or r["segment_id"]), str(r["member_ref"]), r["kind"], r["cause"])
            for r in rows
        ]


async def kept_state(site_id: int, connection: Any = None) -> tuple[set[tuple[int, int]], dict]:
    """The kept matches and counters of the site."""
    matches = await fetch(
        "SELECT segment_id, member_id FROM segment_rule_matches WHERE site_id = $1",
        [site_id],
        connection,
    )
    counts = await fetch(
        "SELECT segment_id, member_count, company_count FROM segment_counts WHERE site_id = $1",
        [site_id],
        connection,
    )
    return (
        {(int(r["segment_id"]), int(r["member_id"])) for r in matches},
        {int(r["segment_id"]): (int(r["member_count"]), int(r["company_count"])) for r in counts},
    )


async def rebuilt_state(site_id: int, now: datetime | None = None) -> tuple[set, dict]:
    """What ``rebuild`` makes of the site from scratch (in a transaction rolled back)."""
    found: list[Any] = []
    try:
        async with in_transaction() as tx:
            await rebuild.rebuild(kept.Writer(tx, site_id, now or datetime.now(UTC)))
            found.append(await kept_state(site_id, tx))
            raise _Rollback
    except _Rollback:
        pass
    return found[0]


async def effective_now(site_id: int, now: datetime | None = None) -> set[tuple[int, int]]:
    """(segment, member) of every effective membership, the rules evaluated afresh in SQL."""
    moment = now or datetime.now(UTC)
    cat = await catalogue.get(site_id)
    pairs: set[tuple[int, int]] = set()
    for pk in cat.by_pk:
        query = Query([site_id])
        rows = await fetch(effective_select(cat, pk, query, moment), query.params)
        pairs |= {(pk, int(r["member_id"])) for r in rows}
    return pairs


async def replayed(site_id: int) -> set[tuple[int, int]]:
    """Effective membership as the record tells it, replayed from empty."""
    rows = await fetch(
        "SELECT segment_id, member_id, kind FROM membership_changes WHERE site_id = $1 ORDER BY id",
        [site_id],
    )
    state: set[tuple[int, int]] = set()
    for r in rows:
        pair = (int(r["segment_id"]), int(r["member_id"]))
        if r["kind"] == "ENTERED":
            assert pair not in state, f"entered twice: {pair}"
            state.add(pair)
        else:
            assert pair in state, f"exited without entering: {pair}"
            state.remove(pair)
    return state


async def assert_consistent(site_id: int, now: datetime | None = None) -> None:
    """Kept rows equal a rebuild from scratch; the record replays to the effective members;
    each counter equals the number of effective members."""
    assert await kept_state(site_id) == await rebuilt_state(site_id, now)
    effective = await effective_now(site_id, now)
    assert await replayed(site_id) == effective
    _, counts = await kept_state(site_id)
    per_segment: dict[int, int] = {}
    for segment_id, _ in effective:
        per_segment[segment_id] = per_segment.get(segment_id, 0) + 1
    assert {pk: n for pk, (n, _) in counts.items() if n} == per_segment
