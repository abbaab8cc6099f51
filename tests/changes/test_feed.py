"""membershipChanges: the record in commit order, a kept cursor resuming with no gap and no
repeat (also under concurrent writers), the filters, the page limit, and tenancy."""

from __future__ import annotations

import asyncio
import base64
import random
from typing import Any

from app.auth.models import Role
from app.changes.models import ChangeKind
from tests.changes.records import AT, changes, record
from tests.factories import Api

FEED = """
query($segmentId: ID, $memberId: ID, $after: String, $first: Int) {
  membershipChanges(segmentId: $segmentId, memberId: $memberId, after: $after, first: $first) {
    edges { cursor node { id segmentId memberId kind cause at } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _read_all(api: Api, first: int, **filters: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        data = await api.query(FEED, {"first": first, "after": after, **filters})
        page = data["membershipChanges"]
        nodes += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_changes_come_in_commit_order_with_every_field(api: Api) -> None:
    # given two commits of changes
    await record(api.site.id, changes(7, ["a", "b"]))
    await record(api.site.id, changes(8, ["a"], ChangeKind.EXITED))

    # when the feed is read from the start
    data = await api.query(FEED, {})
    nodes = [e["node"] for e in data["membershipChanges"]["edges"]]

    # then each change is there once, in the order it committed, as the API names things
    assert [(n["segmentId"], n["memberId"], n["kind"], n["cause"]) for n in nodes] == [
        ("7", "a", "ENTERED", "LISTED"),
        ("7", "b", "ENTERED", "LISTED"),
        ("8", "a", "EXITED", "UNLISTED"),
    ]
    assert [int(n["id"]) for n in nodes] == sorted(int(n["id"]) for n in nodes)
    assert nodes[0]["at"].startswith(AT.isoformat()[:19])
    assert data["membershipChanges"]["pageInfo"]["hasNextPage"] is False


async def test_a_kept_cursor_resumes_after_the_last_change_read(api: Api) -> None:
    # given three changes read by a consumer that keeps its cursor
    await record(api.site.id, changes(7, ["a", "b", "c"]))
    first = await api.query(FEED, {"first": 2})
    kept = first["membershipChanges"]["pageInfo"]["endCursor"]
    assert first["membershipChanges"]["pageInfo"]["hasNextPage"] is True

    # when more changes commit and the consumer asks after its cursor (as after a restart)
    await record(api.site.id, changes(7, ["d"]))
    rest = await api.query(FEED, {"after": kept})

    # then it reads exactly what it had not read
    assert [e["node"]["memberId"] for e in rest["membershipChanges"]["edges"]] == ["c", "d"]
    page_info = rest["membershipChanges"]["pageInfo"]
    assert page_info["hasPreviousPage"] is True and page_info["hasNextPage"] is False

    # and once caught up, the end cursor reads nothing more until something commits
    end = page_info["endCursor"]
    assert (await api.query(FEED, {"after": end}))["membershipChanges"]["edges"] == []


async def test_filters_by_segment_and_by_member_external_id(api: Api) -> None:
    await record(api.site.id, changes(7, ["a", "b"]) + changes(8, ["a", "c"]))

    by_segment = await _read_all(api, 1, segmentId="8")
    by_member = await _read_all(api, 1, memberId="a")
    both = await _read_all(api, 10, segmentId="8", memberId="a")

    assert [(n["segmentId"], n["memberId"]) for n in by_segment] == [("8", "a"), ("8", "c")]
    assert [(n["segmentId"], n["memberId"]) for n in by_member] == [("7", "a"), ("8", "a")]
    assert [(n["segmentId"], n["memberId"]) for n in both] == [("8", "a")]
    assert await _read_all(api, 10, segmentId="not-a-segment") == []


async def test_the_page_size_is_bounded(api: Api) -> None:
    body = await api.raw(FEED, {"first": 501})
    assert body["errors"][0]["extensions"]["code"] == "TOO_LARGE"
    bad = await api.raw(FEED, {"after": "not a cursor"})
    assert bad["errors"][0]["extensions"]["code"] == "INVALID"


async def test_first_null_is_the_default_page_of_100(api: Api) -> None:
    # given more changes than a default page
    await record(api.site.id, changes(7, [f"m{i}" for i in range(120)]))

    # when the feed is read with first: null, and without first
    null = (await api.query(FEED, {"first": None}))["membershipChanges"]
    omitted = (await api.query(FEED, {}))["membershipChanges"]

    # then both give the default page of 100 (not 50, nor everything), with more after it
    assert len(null["edges"]) == len(omitted["edges"]) == 100
    assert null["pageInfo"]["hasNextPage"] is True
    assert null == omitted


async def test_a_negative_cursor_is_invalid(api: Api) -> None:
    # given changes, so that reading from the start gives something
    await record(api.site.id, changes(7, ["a", "b"]))

    # when the feed is asked after a cursor holding a negative position
    negative = base64.urlsafe_b64encode(b"-5").decode()
    body = await api.raw(FEED, {"after": negative})

    # then it is refused as a bad cursor, not read from the start
    [error] = body["errors"]
    assert error["extensions"]["code"] == "INVALID"
    assert negative in error["message"] and "negative" in error["message"]
    assert body["data"] is None


async def test_another_sites_changes_ids_and_cursors_read_nothing_of_it(
    api: Api, other_api: Api
) -> None:
    # given changes of both sites, interleaved
    await record(api.site.id, changes(7, ["a"]))
    await record(other_api.site.id, changes(9, ["secret-1", "secret-2"]))
    await record(api.site.id, changes(7, ["b"]))
    theirs = await other_api.query(FEED, {"first": 1})
    their_cursor = theirs["membershipChanges"]["pageInfo"]["endCursor"]

    # when the first site reads everything, the other's segment, member and cursor
    everything = await _read_all(api, 1)
    their_segment = await _read_all(api, 10, segmentId="9")
    their_member = await _read_all(api, 10, memberId="secret-1")
    after_theirs = await api.query(FEED, {"after": their_cursor})

    # then it sees only its own changes
    assert [n["memberId"] for n in everything] == ["a", "b"]
    assert their_segment == [] and their_member == []
    assert [e["node"]["memberId"] for e in after_theirs["membershipChanges"]["edges"]] == ["b"]


async def test_a_member_filter_reads_only_its_sites_member_of_that_external_id(
    api: Api, other_api: Api
) -> None:
    # given both sites with a member "a" (the member index is a hash of the external id
    # alone on PostgreSQL: both sites' rows are under the same key)
    await record(api.site.id, changes(7, ["a", "b"]))
    await record(other_api.site.id, changes(9, ["a"]))
    await record(other_api.site.id, changes(9, ["a"], ChangeKind.EXITED))
    await record(api.site.id, changes(8, ["a"], ChangeKind.EXITED))

    # when each site reads member "a", a page at a time
    ours = await _read_all(api, 1, memberId="a")
    theirs = await _read_all(other_api, 1, memberId="a")

    # then each sees its own changes of its own "a", in commit order
    assert [(n["segmentId"], n["kind"]) for n in ours] == [("7", "ENTERED"), ("8", "EXITED")]
    assert [(n["segmentId"], n["kind"]) for n in theirs] == [("9", "ENTERED"), ("9", "EXITED")]


async def test_a_reader_key_may_read_the_feed(api: Api) -> None:
    await record(api.site.id, changes(7, ["a"]))
    reader = await api.with_role(Role.READER)
    data = await reader.query(FEED, {})
    assert [e["node"]["memberId"] for e in data["membershipChanges"]["edges"]] == ["a"]


async def test_paging_under_concurrent_writers_has_no_gap_and_no_repeat(api: Api) -> None:
    # given writers committing changes while a consumer pages with a kept cursor
    writers_done = asyncio.Event()

    async def writer(w: int) -> None:
        for batch in range(15):
            size = random.randint(1, 4)
            await record(api.site.id, changes(w, [f"w{w}-{batch}-{i}" for i in range(size)]))
            await asyncio.sleep(0)

    async def consumer() -> list[dict[str, Any]]:
        seen: list[dict[str, Any]] = []
        after = None
        while True:
            finished = writers_done.is_set()
            data = await api.query(FEED, {"first": 3, "after": after})
            page = data["membershipChanges"]
            seen += [e["node"] for e in page["edges"]]
            if page["pageInfo"]["endCursor"] is not None:
                after = page["pageInfo"]["endCursor"]
            if finished and not page["edges"]:
                return seen

    async def writers() -> None:
        await asyncio.gather(*(writer(w) for w in range(1, 5)))
        writers_done.set()

    seen, _ = await asyncio.gather(consumer(), writers())

    # then the consumer read every change once, in id order, exactly what the site holds
    everything = await _read_all(api, 500)
    assert [n["id"] for n in seen] == [n["id"] for n in everything]
    assert len({n["id"] for n in seen}) == len(seen) == len(everything) >= 4 * 15
    per_writer = {w: [n["memberId"] for n in seen if n["segmentId"] == str(w)] for w in range(1, 5)}
    for w, refs in per_writer.items():  # each writer's changes in the order it wrote them
        batches = [tuple(int(x) for x in r.split("-")[1:]) for r in refs]
        assert batches == sorted(batches), w
