"""Listing segments by status and search, paging, and a fixed number of SQL statements
per listing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from tests.factories import Api, companies, count_statements, members, segment
from tests.segments.support import (
    CREATE_SEGMENT,
    SEGMENT_EVENTS,
    SEGMENT_MEMBERS,
    SEGMENTS,
    SEGMENTS_WITH_COUNTS,
    _names,
    _walk,
)

# ------------------------------------------------------------------ listing


async def test_segments_are_listed_in_name_order_over_pages(api: Api) -> None:
    # given seven segments created out of name order
    names = ["delta", "alpha", "golf", "charlie", "echo", "bravo", "foxtrot"]
    for name in names:
        await segment(api, name)

    # when every page is read with first=2
    pages = await _walk(api, SEGMENTS, ["segments"])

    # then the pages hold every segment once, in name order, and say how many there are
    seen = [e["node"]["name"] for page in pages for e in page["edges"]]
    assert seen == sorted(names)
    assert len(pages) == 4
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, True, False]
    assert [p["pageInfo"]["hasPreviousPage"] for p in pages] == [False, True, True, True]
    assert {p["totalCount"] for p in pages} == {7}
    for page in pages:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_empty_listing_has_no_page(api: Api) -> None:
    # given no segments
    # when they are listed
    data = await api.query(SEGMENTS, {"first": 10})

    # then there are no edges and no cursors
    assert data["segments"] == {
        "totalCount": 0,
        "pageInfo": {
            "hasNextPage": False,
            "hasPreviousPage": False,
            "startCursor": None,
            "endCursor": None,
        },
        "edges": [],
    }


async def test_search_matches_name_and_description_ignoring_case(api: Api) -> None:
    # given segments whose name or description mentions "gold", and one that does not
    await segment(api, "Gold tier")
    await segment(api, "Big spenders", description="Formerly the GOLDEN circle")
    await segment(api, "Silver tier")

    # when segments are searched for "gold"
    data = await api.query(SEGMENTS, {"search": "gold", "first": 10})

    # then both matches come back and are counted, the other does not
    assert [e["node"]["name"] for e in data["segments"]["edges"]] == ["Big spenders", "Gold tier"]
    assert data["segments"]["totalCount"] == 2


async def test_search_takes_like_wildcards_literally(api: Api) -> None:
    # given segments whose names differ only where a wildcard would match
    for name in ["50% off", "500 off", "a_b", "axb"]:
        await segment(api, name)

    # when searching for text holding % and _
    assert await _names(api, search="50%") == ["50% off"]
    assert await _names(api, search="a_b") == ["a_b"]


async def test_search_and_status_combine_over_pages(api: Api) -> None:
    # given five active "promo" segments, one inactive promo and one active other
    for i in range(5):
        await segment(api, f"promo-{i}")
    await segment(api, "promo-off", isActive=False)
    await segment(api, "newsletter")

    # when every page of active promos is read
    pages = await _walk(api, SEGMENTS, ["segments"], status="ACTIVE", search="promo")

    # then only the five active promos come, once each
    assert [e["node"]["name"] for p in pages for e in p["edges"]] == [
        f"promo-{i}" for i in range(5)
    ]
    assert {p["totalCount"] for p in pages} == {5}


async def test_an_invalid_cursor_is_an_error(api: Api) -> None:
    # when a cursor the server never made is sent
    body = await api.raw(SEGMENTS, {"after": "!!not a cursor!!"})

    # then the request gets an INVALID error rather than a page
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INVALID"


@pytest.mark.parametrize(
    ("connection", "cursor_of"),
    [
        ("segments", "segment members"),
        ("members", "segments"),
        ("events", "segments"),
        ("events", "a huge number"),
    ],
)
async def test_a_cursor_of_another_connection_is_invalid(
    api: Api, connection: str, cursor_of: str
) -> None:
    # given a segment with a member, and a cursor taken from another kind of connection
    await members(api, "m1")
    made = await segment(api, "Paged", memberIds=["m1"])
    page = await api.query(SEGMENT_MEMBERS, {"id": made["id"]})
    cursors = {
        "segment members": page["segment"]["members"]["pageInfo"]["endCursor"],
        "segments": (await api.query(SEGMENTS))["segments"]["pageInfo"]["endCursor"],
        "a huge number": base64.urlsafe_b64encode(str(2**70).encode()).decode(),
    }
    queries = {
        "segments": (SEGMENTS, {}),
        "members": (SEGMENT_MEMBERS, {"id": made["id"]}),
        "events": (SEGMENT_EVENTS, {"id": made["id"]}),
    }
    query, variables = queries[connection]

    # when it is used as `after`
    body = await api.raw(query, {**variables, "after": cursors[cursor_of]})

    # then the request is told its cursor is invalid (not an internal error)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID"]


@pytest.mark.parametrize("first", [0, 500])
async def test_page_size_up_to_the_limit_is_allowed(api: Api, first: int) -> None:
    # given three segments
    for name in ["a", "b", "c"]:
        await segment(api, name)

    # when listed with first at zero or at the limit
    data = await api.query(SEGMENTS, {"first": first})

    # then the page has at most that many segments
    assert len(data["segments"]["edges"]) == min(first, 3)
    assert data["segments"]["pageInfo"]["hasNextPage"] is (first < 3)


# ------------------------------------------------------------------ query-count guard


async def _statements_for_listing(api: Api, how_many: int) -> tuple[int, list[dict[str, Any]]]:
    await companies(api, "acme", "initech")
    await members(api, "m1", "m2", companyId="acme")
    await members(api, "m3")
    for i in range(how_many):
        await segment(api, f"s{i:02}", memberIds=["m3"], companyIds=["acme"] if i % 2 else [])
    # a document of its own each time: seen once, the executor answers it (a hot document's
    # plan is counted in tests/lookups/test_kept_reads.py)
    document = SEGMENTS_WITH_COUNTS.replace("query {", f"query Listing{how_many} {{")
    with count_statements() as statements:
        data = await api.query(document)
    # verifying the key costs a statement or two unless it is cached, whatever the listing
    listing = [s for s in statements if "api_keys" not in s and '"sites"' not in s]
    return len(listing), [e["node"] for e in data["segments"]["edges"]]


async def test_listing_with_counts_runs_the_same_statements_for_3_and_12_segments(
    api: Api, other_api: Api
) -> None:
    # given a site with 3 segments and another with 12, each with listed members and companies
    # when each site lists its segments with memberCount and companyCount
    few, few_nodes = await _statements_for_listing(api, 3)
    many, many_nodes = await _statements_for_listing(other_api, 12)

    # then both listings came back right
    assert [(n["memberCount"], n["companyCount"]) for n in few_nodes] == [(1, 0), (3, 1), (1, 0)]
    assert len(many_nodes) == 12
    assert sum(n["companyCount"] for n in many_nodes) == 6

    # and the number of SQL statements does not grow with the number of segments
    assert few > 0
    assert few == many, f"{few} statements for 3 segments, {many} for 12"


async def test_datetimes_with_an_offset_are_kept_and_returned_in_utc(api: Api) -> None:
    # given a window written with a +02:00 offset, ending an hour ago in UTC terms
    now = datetime.now(UTC)
    ends = (now - timedelta(hours=1)).astimezone(timezone(timedelta(hours=2)))
    starts = ends - timedelta(days=1)
    data = await api.query(
        CREATE_SEGMENT,
        {"input": {"name": "Offset", "startsAt": starts.isoformat(), "endsAt": ends.isoformat()}},
    )
    segment = data["createSegment"]["segment"]
    # then it is returned in UTC, the same instant, and its status follows the instant
    assert segment["endsAt"].endswith("+00:00")
    assert datetime.fromisoformat(segment["endsAt"]) == ends
    assert segment["status"] == "EXPIRED"
    listing = await api.query("{ segments(status: EXPIRED) { edges { node { name } } } }")
    assert [e["node"]["name"] for e in listing["segments"]["edges"]] == ["Offset"]
