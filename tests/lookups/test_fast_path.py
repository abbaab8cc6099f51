"""The compiled isMember path answers exactly what the executor answers, and leaves every
other document, and every error, to the executor."""

from __future__ import annotations

from typing import Any

import pytest

from app.lookups import fast
from tests.factories import Api, members, segment

FAST = "query Check($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
# the same question in a document the fast path does not take (two fields)
SLOW = "query Check($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) __typename }"


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every answer the fast path gave (None: it left the document to the executor)."""
    seen: list[Any] = []
    original = fast.answer

    async def spy(*args: Any) -> Any:
        result = await original(*args)
        seen.append(result)
        return result

    monkeypatch.setattr(fast, "answer", spy)
    return seen


async def test_fast_and_full_paths_agree(api: Api, answered: list[Any]) -> None:
    # given members in and out of a listed, a DYNAMIC and an inactive segment
    await members(api, "in", "out")
    await members(api, "gold", attributes={"tier": "gold"})
    listed = await segment(api, "Listed", memberIds=["in"])
    rule = await segment(api, "Rule", type="DYNAMIC", rule="attributes.tier = 'gold'")
    off = await segment(api, "Off", memberIds=["in"], isActive=False)
    answered.clear()
    for seg in (listed, rule, off):
        for member in ("in", "out", "gold", "ghost"):
            variables = {"s": seg["id"], "m": member}
            # when asked through both paths
            quick = await api.query(FAST, variables)
            full = await api.query(SLOW, variables)
            # then they agree
            assert quick == {"isMember": full["isMember"]}
    # and the fast path answered every fast document
    assert len(answered) == 24 and all(a is not None for a in answered[::2])
    assert [a["isMember"] for a in answered[::2] if a] == [
        True, False, False, False,
        False, False, True, False,
        False, False, False, False,
    ]  # fmt: skip


async def test_aliases_and_literal_arguments(api: Api, answered: list[Any]) -> None:
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    answered.clear()
    data = await api.query(f'{{ flag: isMember(segmentId: "{seg["id"]}", memberId: "m1") }}')
    assert data == {"flag": True}
    assert answered == [{"flag": True}]


async def test_errors_are_the_executors(api: Api, answered: list[Any]) -> None:
    # given a member, and requests the fast path must not answer
    await members(api, "m1")
    answered.clear()
    unknown = await api.raw(FAST, {"s": "999999", "m": "m1"})
    missing = await api.raw(FAST, {"s": "1"})
    anonymous = (
        await api.client.post("/graphql", json={"query": FAST, "variables": {"s": "1", "m": "m1"}})
    ).json()
    # then each is the executor's error
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert unknown["errors"][0]["path"] == ["isMember"]
    assert "'ID!'" in missing["errors"][0]["message"]
    assert "Internal" not in missing["errors"][0]["message"]
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert answered == [None, None]  # the anonymous one never reached it


@pytest.mark.parametrize(
    "document",
    [
        '{ isMember(segmentId: 1, memberId: "m") }',  # an Int literal: the executor coerces
        "query($s: String!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }",
        "query($s: ID!, $m: ID!, $x: ID) { isMember(segmentId: $s, memberId: $m) }",
        "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) @skip(if: false) }",
        "query($s: ID!, $m: ID!) { ...F }"
        " fragment F on Query { isMember(segmentId: $s, memberId: $m) }",
        "query($s: ID!, $m: ID!) { a: isMember(segmentId: $s, memberId: $m) b: viewer { siteId } }",
        "mutation { isMember }",
        '{ isMember(segmentId: "1") }',
        '{ isMember(segmentId: "1", memberId: "m" ',
    ],
)
def test_documents_it_leaves_to_the_executor(document: str) -> None:
    assert fast.plan(document) is None


def test_the_plan_of_a_plain_document() -> None:
    found = fast.plan('query Q($m: ID!) { yes: isMember(segmentId: "7", memberId: $m) }')
    assert found == fast.Plan(
        key="yes", name="Q", arguments={"segmentId": ("value", "7"), "memberId": ("var", "m")}
    )
