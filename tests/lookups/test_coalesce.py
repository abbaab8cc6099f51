"""Concurrent lookups sharing statements (app.lookups.coalesce): the mechanism on its own, then
isMember, memberSegments, membershipsOf and evaluateFlags asked at once through the API, each
answered as when asked alone."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Any

import pytest

from app.db import is_postgres
from app.lookups import service as lookups
from app.lookups.coalesce import Coalescer
from tests.factories import Api, count_statements, members, segment
from tests.lookups.support import executor_only

IS_MEMBER = "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
MEMBER_SEGMENTS = "query($m: ID!) { memberSegments(memberId: $m) { id name } }"
MEMBERSHIPS_OF = "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
EVALUATE = "query($m: ID!) { evaluateFlags(memberId: $m) { key enabled matchedSegmentIds } }"
EXCLUDE = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added userErrors { code } }
}
"""
CREATE_FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) { featureFlag { key } userErrors { code message } }
}
"""


class _Statements:
    """A statement function that answers each id with (kind, id), held until released."""

    def __init__(self) -> None:
        self.sent: list[tuple[Hashable, list[str]]] = []
        self.gate = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, kind: Hashable, ids: list[str]) -> dict[str, Any]:
        self.sent.append((kind, ids))
        await self.gate.wait()
        if self.fail is not None:
            raise self.fail
        return {i: (kind, i) for i in ids}


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_lookups_asked_while_statements_are_out_share_the_next_one() -> None:
    # given one statement of a kind in flight at most, held
    run = _Statements()
    coalescer: Coalescer[dict[str, Any]] = Coalescer(run, limit=1)
    first = asyncio.ensure_future(coalescer.ask("a", ["m1"]))
    await _settle()
    # when four more lookups come meanwhile, of two kinds, one cancelled while waiting
    later = [
        asyncio.ensure_future(coalescer.ask(kind, ids))
        for kind, ids in (("a", ["m2"]), ("b", ["m3"]), ("a", ["m4", "m2"]), ("a", ["m5"]))
    ]
    await _settle()
    later[3].cancel()
    run.gate.set()
    answers = await asyncio.gather(first, *later[:3])
    # then the first went alone, and the other kind at once (kinds never wait for each
    # other); the waiting ones of the first's kind went together after it (the cancelled
    # one's member not asked); each got its members
    assert run.sent == [("a", ["m1"]), ("b", ["m3"]), ("a", ["m2", "m4"])]
    assert [answers[0]["m1"], answers[1]["m2"], answers[2]["m3"], answers[3]["m4"]] == [
        ("a", "m1"),
        ("a", "m2"),
        ("b", "m3"),
        ("a", "m4"),
    ]
    assert later[3].cancelled()
    assert (coalescer.statements, coalescer.batched, coalescer.running) == (3, 2, 0)
    assert coalescer._lanes == {}  # kinds with nothing out nor waiting are let go


async def test_a_batch_holds_at_most_its_members_limit() -> None:
    # given a held statement, and three lookups of two members each waiting behind it
    run = _Statements()
    coalescer: Coalescer[dict[str, Any]] = Coalescer(run, limit=1, most_ids=4)
    first = asyncio.ensure_future(coalescer.ask("a", ["m0"]))
    await _settle()
    waiting = [asyncio.ensure_future(coalescer.ask("a", [f"m{i}", f"n{i}"])) for i in range(1, 4)]
    await _settle()
    run.gate.set()
    await asyncio.gather(first, *waiting)
    # then the next statement took two of them (four members), the one after the third
    assert run.sent == [("a", ["m0"]), ("a", ["m1", "n1", "m2", "n2"]), ("a", ["m3", "n3"])]


async def test_a_statement_s_error_is_every_waiter_s_and_the_next_ones_still_go() -> None:
    # given a held statement, and two lookups waiting behind it
    run = _Statements()
    coalescer: Coalescer[dict[str, Any]] = Coalescer(run, limit=1)
    first = asyncio.ensure_future(coalescer.ask("a", ["m1"]))
    await _settle()
    waiting = [asyncio.ensure_future(coalescer.ask("a", [i])) for i in ("m2", "m3")]
    await _settle()
    # when the statements fail
    run.fail = RuntimeError("the database went away")
    run.gate.set()
    results = await asyncio.gather(first, *waiting, return_exceptions=True)
    # then each lookup has that error, and the coalescer is free for the next one
    assert [str(r) for r in results] == ["the database went away"] * 3
    run.fail = None
    assert await coalescer.ask("a", ["m9"]) == {"m9": ("a", "m9")}
    assert coalescer.running == 0


async def test_a_cancelled_first_lookup_does_not_cancel_the_batch_behind_it() -> None:
    # given a held statement and a lookup waiting behind it
    run = _Statements()
    coalescer: Coalescer[dict[str, Any]] = Coalescer(run, limit=1)
    first = asyncio.ensure_future(coalescer.ask("a", ["m1"]))
    await _settle()
    waiting = asyncio.ensure_future(coalescer.ask("a", ["m2"]))
    await _settle()
    # when the first is cancelled (its deadline), then the statements go on
    first.cancel()
    await _settle()
    run.gate.set()
    # then the waiting one is answered by a statement of its own
    assert await waiting == {"m2": ("a", "m2")}
    assert first.cancelled()
    assert run.sent == [("a", ["m1"]), ("a", ["m2"])]


async def _world(api: Api) -> tuple[list[str], list[str]]:
    """Eight members; the ids of a listed, a dynamic and an inactive segment and one that
    excludes a member; flags on the first two."""
    ids = [f"m{i}" for i in range(8)]
    await members(api, *ids[:4], attributes={"n": 1})
    await members(api, *ids[4:], attributes={"n": 2})
    listed = await segment(api, "Listed", memberIds=ids[::2])
    rule = await segment(api, "Rule", type="DYNAMIC", rule="attributes.n = 1")
    paused = await segment(api, "Paused", memberIds=ids, isActive=False)
    excluding = await segment(api, "Excluding", memberIds=ids[:3])
    data = await api.query(
        EXCLUDE, {"input": {"segmentId": excluding["id"], "memberIds": ["m1"], "mode": "ADD"}}
    )
    assert data["updateSegmentExclusions"]["added"] == 1
    for key, target in (("f-listed", listed), ("f-rule", rule)):
        data = await api.query(
            CREATE_FLAG, {"input": {"key": key, "segmentIds": [target["id"]], "enabled": True}}
        )
        assert data["createFeatureFlag"]["userErrors"] == []
    return ids, [s["id"] for s in (listed, rule, paused, excluding)]


def _asked(document: str, ids: list[str], segments: list[str]) -> list[dict[str, Any]]:
    if document == IS_MEMBER:
        return [{"s": s, "m": m} for s in segments for m in (*ids[:4], "nobody")]
    if document == MEMBERSHIPS_OF:
        return [{"ids": [i, "nobody", ids[0]]} for i in ids]
    return [{"m": i} for i in (*ids, "nobody")]


@pytest.mark.parametrize("document", [IS_MEMBER, MEMBER_SEGMENTS, MEMBERSHIPS_OF, EVALUATE])
async def test_lookups_asked_at_once_answer_as_asked_alone(
    api: Api, monkeypatch: pytest.MonkeyPatch, document: str
) -> None:
    # given members in listed, dynamic, inactive and excluding segments, flags on them, and
    # each lookup's answer asked alone (its plan made, the site known to keep its matches)
    ids, segments = await _world(api)
    asked = _asked(document, ids, segments)
    alone = [await api.query(document, v) for v in asked]
    alone = [await api.query(document, v) for v in asked]
    assert len({str(a) for a in alone}) > 1  # answers that differ, member by member
    # when they are asked all at once, one statement in flight at most
    monkeypatch.setattr(lookups._coalescer, "limit", 1)
    batched = lookups._coalescer.batched
    with count_statements() as statements:
        together = await asyncio.gather(*(api.query(document, v) for v in asked))
    # then each has the answer it had alone; on PostgreSQL those that came while a statement
    # was out shared the next one (SQLite's lookups go through the general path, one each)
    assert together == alone
    sent = [s for s in statements if "api_keys" not in s]
    if is_postgres():
        assert lookups._coalescer.batched - batched >= 2
        assert len(sent) < len(asked)
    else:
        assert len(sent) >= len(asked)
    # and the executor, asked all at once the same way, answers the same
    with executor_only(monkeypatch):
        assert await asyncio.gather(*(api.query(document, v) for v in asked)) == alone
