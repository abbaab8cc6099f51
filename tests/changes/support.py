"""Reading the record and the kept rows, and what a recomputation from scratch says."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from app.db import as_datetime, fetch, json_value
from app.memberships import catalogue, kept, rebuild
from app.memberships.effective import Query
from app.memberships.service import effective_select

Record = tuple[str, str, str, str]  # segment name, member external id, kind, cause


@dataclass(frozen=True)
class Stored:
    """One change as the record stores it: a member of a row (``row`` its row's id)."""

    id: int
    row: int
    segment_id: int
    member_id: int
    member_ref: str
    kind: str
    cause: str
    at: datetime


async def stored(site_id: int, after: int = 0, connection: Any = None) -> list[Stored]:
    """The site's changes past id ``after``, read from the record's rows as they are stored
    (a row holds its changes' members as arrays; its id is the last one's), in id order."""
    rows = await fetch(
        "SELECT id, size, segment_id, kind, cause, at, member_ids, member_refs"
        " FROM membership_changes WHERE site_id = $1 AND id > $2 ORDER BY id",
        [site_id, after],
        connection,
    )
    found = []
    for r in rows:
        ids, refs = json_value(r["member_ids"]), json_value(r["member_refs"])
        size = int(r["size"])
        assert len(ids) == len(refs) == size, r
        first = int(r["id"]) - size + 1
        at = as_datetime(r["at"])
        assert at is not None
        kind, cause, segment = str(r["kind"]), str(r["cause"]), int(r["segment_id"])
        found += [
            Stored(first + i, int(r["id"]), segment, int(m), str(ref), kind, cause, at)
            for i, (m, ref) in enumerate(zip(ids, refs, strict=True))
        ]
    return [c for c in found if c.id > after]


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
        found = await stored(self.site_id, self.seen)
        names = await fetch("SELECT id, name FROM segments WHERE site_id = $1", [self.site_id])
        name = {int(r["id"]): str(r["name"]) for r in names}
        if found:
            self.seen = found[-1].id
        return [
            (name.get(c.segment_id, str(c.segment_id)), c.member_ref, c.kind, c.cause)
            for c in found
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
    state: set[tuple[int, int]] = set()
    for c in await stored(site_id):
        pair = (c.segment_id, c.member_id)
        if c.kind == "ENTERED":
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
