"""Segments over GraphQL: create, read, list by status and search, merge updates, delete,
lists made at creation, the audit trail, and a fixed number of SQL statements per listing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.auth.models import Role
from app.settings import get_settings
from tests.factories import Api, companies, count_statements, members, segment

SEGMENT_FIELDS = """
  id name description type isActive startsAt endsAt status rule memberCount companyCount
  createdAt updatedAt
"""

CREATE_SEGMENT = f"""
mutation($input: CreateSegmentInput!) {{
  createSegment(input: $input) {{
    segment {{ {SEGMENT_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

UPDATE_SEGMENT = f"""
mutation($id: ID!, $input: UpdateSegmentInput!) {{
  updateSegment(id: $id, input: $input) {{
    segment {{ {SEGMENT_FIELDS} }}
    userErrors {{ field message code }}
  }}
}}
"""

DELETE_SEGMENT = """
mutation($id: ID!) {
  deleteSegment(id: $id) { deletedId userErrors { field message code } }
}
"""

SEGMENT = f"""
query($id: ID!) {{ segment(id: $id) {{ {SEGMENT_FIELDS} }} }}
"""

SEGMENT_BY_NAME = """
query($name: String!) { segmentByName(name: $name) { id name } }
"""

SEGMENTS = """
query($status: SegmentStatusFilter, $search: String, $first: Int, $after: String) {
  segments(status: $status, search: $search, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id name status } }
  }
}
"""

SEGMENTS_WITH_COUNTS = """
query { segments(first: 100) { edges { node { id name memberCount companyCount } } } }
"""

SEGMENT_MEMBERS = """
query($id: ID!, $first: Int, $after: String, $search: String) {
  segment(id: $id) {
    memberCount
    members(first: $first, after: $after, search: $search) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { cursor source addedAt expiresAt node { id email company { id } } }
    }
  }
}
"""

SEGMENT_COMPANIES = """
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    companyCount
    companies(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { id name memberCount } }
    }
  }
}
"""

SEGMENT_EVENTS = """
query($id: ID!, $first: Int, $after: String) {
  segment(id: $id) {
    events(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node { segmentId kind actor count sampleIds at } }
    }
  }
}
"""

MEMBER = """
query($id: ID!) { member(id: $id) { id } }
"""


def _at(delta: timedelta) -> str:
    """A timestamp that far from now, as a GraphQL DateTime."""
    return (datetime.now(UTC) + delta).isoformat()


DAY = timedelta(days=1)


async def _create(api: Api, **fields: Any) -> dict[str, Any]:
    data = await api.query(CREATE_SEGMENT, {"input": fields})
    payload: dict[str, Any] = data["createSegment"]
    return payload


async def _update(api: Api, segment_id: str, **changes: Any) -> dict[str, Any]:
    data = await api.query(UPDATE_SEGMENT, {"id": segment_id, "input": changes})
    payload: dict[str, Any] = data["updateSegment"]
    return payload


async def _get(api: Api, segment_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(SEGMENT, {"id": segment_id}))["segment"]
    return found


async def _names(api: Api, **args: Any) -> list[str]:
    data = await api.query(SEGMENTS, {"first": 500, **args})
    return [e["node"]["name"] for e in data["segments"]["edges"]]


async def _walk(api: Api, query: str, path: list[str], **args: Any) -> list[dict[str, Any]]:
    """Every page of a connection with first=2; checks pageInfo and totalCount on the way."""
    pages: list[dict[str, Any]] = []
    after = None
    while True:
        data: Any = await api.query(query, {**args, "first": 2, "after": after})
        for key in path:
            data = data[key]
        pages.append(data)
        if not data["pageInfo"]["hasNextPage"]:
            return pages
        assert len(data["edges"]) == 2
        after = data["pageInfo"]["endCursor"]
        assert len(pages) < 50, "pagination does not end"


# ------------------------------------------------------------------ create and read


async def test_create_segment_returns_it_with_defaults(api: Api) -> None:
    # given a site with no segments
    # when a segment is created with a name only
    payload = await _create(api, name="Gold customers")

    # then it is a STATIC, active segment with no members, readable by id and by name
    assert payload["userErrors"] == []
    created = payload["segment"]
    assert created["name"] == "Gold customers"
    assert created["type"] == "STATIC"
    assert created["isActive"] is True
    assert created["status"] == "ACTIVE"
    assert created["description"] is None
    assert created["startsAt"] is None and created["endsAt"] is None
    assert created["memberCount"] == 0 and created["companyCount"] == 0
    assert await _get(api, created["id"]) == created
    by_name = await api.query(SEGMENT_BY_NAME, {"name": "Gold customers"})
    assert by_name["segmentByName"] == {"id": created["id"], "name": "Gold customers"}


async def test_create_segment_keeps_every_field_given(api: Api) -> None:
    # given a window from yesterday to tomorrow
    starts, ends = _at(-DAY), _at(DAY)

    # when a segment is created with every field
    payload = await _create(
        api,
        name="Spring sale",
        description="Customers invited to the spring sale",
        type="DYNAMIC",
        isActive=True,
        startsAt=starts,
        endsAt=ends,
    )

    # then each is stored as given
    assert payload["userErrors"] == []
    stored = await _get(api, payload["segment"]["id"])
    assert stored is not None
    assert stored["description"] == "Customers invited to the spring sale"
    assert stored["type"] == "DYNAMIC"
    assert datetime.fromisoformat(stored["startsAt"]) == datetime.fromisoformat(starts)
    assert datetime.fromisoformat(stored["endsAt"]) == datetime.fromisoformat(ends)
    assert stored["status"] == "ACTIVE"


@pytest.mark.parametrize("unknown", ["999999", "0", "-1", "not-a-number", "99999999999999999999"])
async def test_segment_with_an_unknown_id_is_null(api: Api, unknown: str) -> None:
    # given a site with one segment
    await segment(api, "Existing")

    # when an id naming no segment is asked for
    data = await api.query(SEGMENT, {"id": unknown})

    # then the answer is null, not an error
    assert data["segment"] is None


async def test_segment_by_name_is_exact(api: Api) -> None:
    # given a segment named "VIP"
    await segment(api, "VIP")

    # when other spellings are asked for
    data = await api.query(
        'query { a: segmentByName(name: "vip") { id } b: segmentByName(name: "VI") { id } }'
    )

    # then none of them finds it
    assert data == {"a": None, "b": None}


# ------------------------------------------------------------------ create: user errors


async def test_duplicate_segment_name_is_already_exists_and_creates_nothing(api: Api) -> None:
    # given a segment named "VIP"
    await segment(api, "VIP")

    # when another one is created with the same name (surrounding spaces trimmed)
    payload = await _create(api, name="  VIP ")

    # then it is refused and there is still one segment
    assert payload["segment"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "ALREADY_EXISTS"
    assert error["field"] == ["input", "name"]
    assert await _names(api) == ["VIP"]


@pytest.mark.parametrize("name", ["", "   "])
async def test_empty_segment_name_is_invalid(api: Api, name: str) -> None:
    # when a segment is created with an empty or blank name
    payload = await _create(api, name=name)

    # then it is refused and nothing is created
    assert payload["segment"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["input", "name"])
    ]
    assert await _names(api) == []


async def test_over_long_segment_name_is_invalid_and_the_limit_is_allowed(api: Api) -> None:
    limit = get_settings().max_name_length

    # when a name one over the limit is sent
    too_long = await _create(api, name="x" * (limit + 1))

    # then it is refused with a message naming the limit
    [error] = too_long["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "name"])
    assert str(limit) in error["message"]
    # and a name exactly at the limit is fine
    at_limit = await _create(api, name="y" * limit)
    assert at_limit["userErrors"] == []
    assert await _names(api) == ["y" * limit]


async def test_over_long_description_is_invalid(api: Api) -> None:
    limit = get_settings().max_description_length

    # when a description over the limit is sent
    payload = await _create(api, name="Long", description="d" * (limit + 1))

    # then it is refused and nothing is created
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "description"])
    assert await _names(api) == []


@pytest.mark.parametrize(
    ("starts", "ends"),
    [(DAY, DAY), (DAY, -DAY), (timedelta(0), -timedelta(seconds=1))],
    ids=["equal", "before", "one-second-before"],
)
async def test_ends_at_not_after_starts_at_is_invalid(
    api: Api, starts: timedelta, ends: timedelta
) -> None:
    # given one instant for both ends of the window, so that "equal" is exactly equal
    now = datetime.now(UTC)

    # when a segment is created whose endsAt is not after its startsAt
    payload = await _create(
        api, name="Window", startsAt=(now + starts).isoformat(), endsAt=(now + ends).isoformat()
    )

    # then it is refused on endsAt and nothing is created
    assert payload["segment"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "endsAt"])
    assert await _names(api) == []


# ------------------------------------------------------------------ initial lists


async def test_create_segment_with_members_and_companies_lists_them(api: Api) -> None:
    # given members m1..m3 (m1 and m2 work at acme) and companies acme and initech (empty)
    await companies(api, "acme", "initech")
    await members(api, "m1", "m2", companyId="acme")
    await members(api, "m3")

    # when a segment is created listing m1 and m3 and the company acme
    payload = await _create(
        api, name="Launch", memberIds=["m1", "m3"], companyIds=["acme", "initech"]
    )

    # then its effective members are m1, m3 (listed) and m2 (through acme), each counted once
    assert payload["userErrors"] == []
    created = payload["segment"]
    assert created["memberCount"] == 3
    assert created["companyCount"] == 2
    data = await api.query(SEGMENT_MEMBERS, {"id": created["id"]})
    edges = data["segment"]["members"]["edges"]
    assert {e["node"]["id"]: e["source"] for e in edges} == {
        "m1": "MANUAL",
        "m2": "COMPANY",
        "m3": "MANUAL",
    }
    assert data["segment"]["members"]["totalCount"] == 3
    for edge in edges:
        added = datetime.fromisoformat(edge["addedAt"])
        assert abs(datetime.now(UTC) - added) < timedelta(minutes=5)
        assert edge["expiresAt"] is None
    companies_data = await api.query(SEGMENT_COMPANIES, {"id": created["id"]})
    listed = companies_data["segment"]["companies"]
    assert [e["node"]["id"] for e in listed["edges"]] == ["acme", "initech"]
    assert [e["node"]["memberCount"] for e in listed["edges"]] == [2, 0]
    assert listed["totalCount"] == 2


async def test_create_segment_with_repeated_member_ids_lists_each_once(api: Api) -> None:
    # given members m1 and m2
    await members(api, "m1", "m2")

    # when a segment is created naming m1 twice
    payload = await _create(api, name="Twice", memberIds=["m1", "m2", "m1"])

    # then m1 is listed once
    assert payload["userErrors"] == []
    assert payload["segment"]["memberCount"] == 2


async def test_create_segment_with_unknown_member_ids_is_not_found_and_creates_nothing(
    api: Api,
) -> None:
    # given member m1 only
    await members(api, "m1")

    # when a segment is created listing m1 and two ids that name no member
    payload = await _create(api, name="Typos", memberIds=["m1", "ghost-1", "ghost-2"])

    # then it is refused naming the unknown ids, and no segment exists
    assert payload["segment"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", ["input", "memberIds"])
    assert "ghost-1" in error["message"] and "ghost-2" in error["message"]
    assert (await api.query(SEGMENT_BY_NAME, {"name": "Typos"}))["segmentByName"] is None
    # and the name is still free: nothing half-made holds it
    assert (await _create(api, name="Typos", memberIds=["m1"]))["userErrors"] == []


async def test_create_segment_with_unknown_company_ids_is_not_found_and_creates_nothing(
    api: Api,
) -> None:
    # given company acme only
    await companies(api, "acme")

    # when a segment is created listing acme and an unknown company
    payload = await _create(api, name="Typos", companyIds=["acme", "nope"])

    # then it is refused and no segment exists
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", ["input", "companyIds"])
    assert "nope" in error["message"]
    assert await _names(api) == []


async def test_create_segment_with_too_many_ids_is_too_large(api: Api) -> None:
    limit = get_settings().max_bulk_ids

    # when a segment is created with one id more than a request may carry
    payload = await _create(api, name="Huge", memberIds=[f"m{i}" for i in range(limit + 1)])

    # then it is refused with a message naming the limit, and nothing is created
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("TOO_LARGE", ["input", "memberIds"])
    assert str(limit) in error["message"]
    assert await _names(api) == []


# ------------------------------------------------------------------ status


async def test_status_is_derived_from_is_active_the_window_and_the_clock(api: Api) -> None:
    # given one segment of each status, by window relative to now
    cases = {
        "always": ({}, "ACTIVE"),
        "open window": ({"startsAt": _at(-DAY), "endsAt": _at(DAY)}, "ACTIVE"),
        "started": ({"startsAt": _at(-DAY)}, "ACTIVE"),
        "until tomorrow": ({"endsAt": _at(DAY)}, "ACTIVE"),
        "switched off": ({"isActive": False}, "INACTIVE"),
        "off and future": ({"isActive": False, "startsAt": _at(DAY)}, "INACTIVE"),
        "off and past": ({"isActive": False, "endsAt": _at(-DAY)}, "INACTIVE"),
        "next week": ({"startsAt": _at(7 * DAY)}, "SCHEDULED"),
        "next week only": ({"startsAt": _at(7 * DAY), "endsAt": _at(8 * DAY)}, "SCHEDULED"),
        "last week": ({"startsAt": _at(-8 * DAY), "endsAt": _at(-7 * DAY)}, "EXPIRED"),
        "ended": ({"endsAt": _at(-DAY)}, "EXPIRED"),
    }
    for name, (fields, _) in cases.items():
        await segment(api, name, **fields)

    # when the segments are listed
    data = await api.query(SEGMENTS, {"first": 100})

    # then each has the status its window gives
    got = {e["node"]["name"]: e["node"]["status"] for e in data["segments"]["edges"]}
    assert got == {name: status for name, (_, status) in cases.items()}


@pytest.mark.parametrize("status", ["ACTIVE", "INACTIVE", "SCHEDULED", "EXPIRED"])
async def test_status_filter_lists_exactly_the_segments_with_that_status(
    api: Api, status: str
) -> None:
    # given two segments of each status
    windows = {
        "ACTIVE": [{}, {"startsAt": _at(-DAY), "endsAt": _at(DAY)}],
        "INACTIVE": [{"isActive": False}, {"isActive": False, "endsAt": _at(-DAY)}],
        "SCHEDULED": [{"startsAt": _at(DAY)}, {"startsAt": _at(DAY), "endsAt": _at(2 * DAY)}],
        "EXPIRED": [{"endsAt": _at(-DAY)}, {"startsAt": _at(-2 * DAY), "endsAt": _at(-DAY)}],
    }
    for kind, fields_list in windows.items():
        for i, fields in enumerate(fields_list):
            await segment(api, f"{kind.lower()}-{i}", **fields)

    # when the segments are listed with a status filter
    data = await api.query(SEGMENTS, {"status": status, "first": 100})

    # then exactly those with that status come back, and totalCount agrees
    nodes = [e["node"] for e in data["segments"]["edges"]]
    assert [n["name"] for n in nodes] == [f"{status.lower()}-0", f"{status.lower()}-1"]
    assert {n["status"] for n in nodes} == {status}
    assert data["segments"]["totalCount"] == 2
    # and ALL lists every one of them
    assert len(await _names(api, status="ALL")) == 8


async def test_status_follows_updates_of_the_window(api: Api) -> None:
    # given an active segment
    created = await segment(api, "Campaign")

    # when its window is moved into the future, then into the past, then it is switched off
    scheduled = await _update(api, created["id"], startsAt=_at(DAY))
    expired = await _update(api, created["id"], startsAt=_at(-2 * DAY), endsAt=_at(-DAY))
    inactive = await _update(api, created["id"], isActive=False)

    # then its status follows each change
    assert scheduled["segment"]["status"] == "SCHEDULED"
    assert expired["segment"]["status"] == "EXPIRED"
    assert inactive["segment"]["status"] == "INACTIVE"
    assert await _names(api, status="INACTIVE") == ["Campaign"]
    assert await _names(api, status="EXPIRED") == []


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


# ------------------------------------------------------------------ update


async def test_update_merges_omitted_fields_stay(api: Api) -> None:
    # given a segment with a description and a window
    starts, ends = _at(-DAY), _at(DAY)
    created = await segment(
        api, "Original", description="keep me", startsAt=starts, endsAt=ends, type="DYNAMIC"
    )

    # when only its name is updated
    payload = await _update(api, created["id"], name="Renamed")

    # then the name changes and everything else stays as it was
    assert payload["userErrors"] == []
    stored = await _get(api, created["id"])
    assert stored is not None
    assert stored["name"] == "Renamed"
    assert stored["description"] == "keep me"
    assert stored["type"] == "DYNAMIC"
    assert stored["isActive"] is True
    assert datetime.fromisoformat(stored["startsAt"]) == datetime.fromisoformat(starts)
    assert datetime.fromisoformat(stored["endsAt"]) == datetime.fromisoformat(ends)
    assert (await api.query(SEGMENT_BY_NAME, {"name": "Original"}))["segmentByName"] is None


async def test_update_with_explicit_null_clears_nullable_fields(api: Api) -> None:
    # given a segment with a description and a window
    created = await segment(
        api, "Window", description="about to go", startsAt=_at(-DAY), endsAt=_at(DAY)
    )

    # when description and endsAt are sent as null
    payload = await _update(api, created["id"], description=None, endsAt=None)

    # then those two are cleared and startsAt stays
    assert payload["userErrors"] == []
    stored = await _get(api, created["id"])
    assert stored is not None
    assert stored["description"] is None
    assert stored["endsAt"] is None
    assert stored["startsAt"] is not None


@pytest.mark.parametrize("field", ["name", "type", "isActive"])
async def test_update_with_null_for_a_required_field_is_invalid(api: Api, field: str) -> None:
    # given a segment
    created = await segment(api, "Required")

    # when a required field is sent as null
    payload = await _update(api, created["id"], **{field: None})

    # then it is refused on that field and the segment is unchanged
    assert payload["segment"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", field])
    stored = await _get(api, created["id"])
    assert stored is not None
    assert (stored["name"], stored["type"], stored["isActive"]) == ("Required", "STATIC", True)


async def test_update_checks_the_window_against_stored_values(api: Api) -> None:
    # given a segment starting tomorrow
    created = await segment(api, "Later", startsAt=_at(DAY))

    # when only endsAt is set, to before the stored startsAt
    payload = await _update(api, created["id"], endsAt=_at(-DAY))

    # then it is refused and endsAt stays empty
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "endsAt"])
    stored = await _get(api, created["id"])
    assert stored is not None and stored["endsAt"] is None


async def test_update_to_a_taken_name_is_already_exists(api: Api) -> None:
    # given segments "A" and "B"
    await segment(api, "A")
    b = await segment(api, "B", description="b")

    # when B is renamed to A
    payload = await _update(api, b["id"], name="A", description="changed")

    # then it is refused and B is unchanged
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("ALREADY_EXISTS", ["input", "name"])
    stored = await _get(api, b["id"])
    assert stored is not None
    assert (stored["name"], stored["description"]) == ("B", "b")


async def test_update_keeping_its_own_name_is_fine(api: Api) -> None:
    # given a segment "A"
    a = await segment(api, "A")

    # when it is updated with its own name and a new description
    payload = await _update(api, a["id"], name="A", description="same name")

    # then the update applies
    assert payload["userErrors"] == []
    assert payload["segment"]["description"] == "same name"


@pytest.mark.parametrize("name", ["", "x" * 201])
async def test_update_to_an_invalid_name_is_invalid(api: Api, name: str) -> None:
    # given a segment
    created = await segment(api, "Fine")

    # when it is renamed to an empty or over-long name
    payload = await _update(api, created["id"], name=name)

    # then it is refused and the name stays
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "name"])
    stored = await _get(api, created["id"])
    assert stored is not None and stored["name"] == "Fine"


@pytest.mark.parametrize("unknown", ["424242", "nope"])
async def test_update_of_an_unknown_segment_is_not_found(api: Api, unknown: str) -> None:
    # given one segment
    await segment(api, "Only")

    # when an unknown id is updated
    payload = await _update(api, unknown, description="x")

    # then NOT_FOUND on the id
    assert payload["segment"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("NOT_FOUND", ["id"])


async def test_update_moves_updated_at_not_created_at(api: Api) -> None:
    # given a segment
    created = await segment(api, "Clock")
    before = await _get(api, created["id"])
    assert before is not None

    # when it is updated
    payload = await _update(api, created["id"], description="touched")

    # then updatedAt moves forward and createdAt stays
    after = payload["segment"]
    assert after["createdAt"] == before["createdAt"]
    assert datetime.fromisoformat(after["updatedAt"]) >= datetime.fromisoformat(before["updatedAt"])


# ------------------------------------------------------------------ delete


async def test_delete_segment_removes_it_and_its_lists_not_its_members(api: Api) -> None:
    # given a segment listing a member and a company, and another segment listing the same
    await companies(api, "acme")
    await members(api, "m1", companyId="acme")
    doomed = await segment(api, "Doomed", memberIds=["m1"], companyIds=["acme"])
    kept = await segment(api, "Kept", memberIds=["m1"], companyIds=["acme"])

    # when the first is deleted
    data = await api.query(DELETE_SEGMENT, {"id": doomed["id"]})

    # then it is gone by id, by name and from listings; the member, company and other segment stay
    assert data["deleteSegment"] == {"deletedId": doomed["id"], "userErrors": []}
    assert await _get(api, doomed["id"]) is None
    assert (await api.query(SEGMENT_BY_NAME, {"name": "Doomed"}))["segmentByName"] is None
    assert await _names(api) == ["Kept"]
    assert (await api.query(MEMBER, {"id": "m1"}))["member"] == {"id": "m1"}
    still = await _get(api, kept["id"])
    assert still is not None
    assert (still["memberCount"], still["companyCount"]) == (1, 1)
    # and its name can be used again, starting empty
    again = await segment(api, "Doomed")
    assert (again["memberCount"], again["companyCount"]) == (0, 0)


@pytest.mark.parametrize("unknown", ["424242", "abc"])
async def test_delete_of_an_unknown_segment_is_not_found(api: Api, unknown: str) -> None:
    # given one segment
    await segment(api, "Only")

    # when an unknown id is deleted
    data = await api.query(DELETE_SEGMENT, {"id": unknown})

    # then NOT_FOUND on the id, and the existing segment stays
    payload = data["deleteSegment"]
    assert payload["deletedId"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [("NOT_FOUND", ["id"])]
    assert await _names(api) == ["Only"]


async def test_deleting_twice_is_not_found_the_second_time(api: Api) -> None:
    # given a deleted segment
    created = await segment(api, "Once")
    first = await api.query(DELETE_SEGMENT, {"id": created["id"]})
    assert first["deleteSegment"]["userErrors"] == []

    # when it is deleted again
    second = await api.query(DELETE_SEGMENT, {"id": created["id"]})

    # then the second time it is not found
    assert [e["code"] for e in second["deleteSegment"]["userErrors"]] == ["NOT_FOUND"]


# ------------------------------------------------------------------ segment members and companies


async def test_segment_members_walk_every_page_once(api: Api) -> None:
    # given a segment with five listed members and two more through a company
    await companies(api, "acme")
    await members(api, "m1", "m2", "m3", "m4", "m5")
    await members(api, "c1", "c2", companyId="acme")
    created = await segment(
        api, "Many", memberIds=["m5", "m3", "m1", "m4", "m2"], companyIds=["acme"]
    )

    # when every page of its members is read with first=2
    pages = await _walk(api, SEGMENT_MEMBERS, ["segment", "members"], id=created["id"])

    # then each of the seven comes exactly once, the order is stable, the count is right
    seen = [e["node"]["id"] for p in pages for e in p["edges"]]
    assert sorted(seen) == ["c1", "c2", "m1", "m2", "m3", "m4", "m5"]
    assert len(seen) == len(set(seen)) == 7
    assert [p["pageInfo"]["hasNextPage"] for p in pages] == [True, True, True, False]
    assert {p["totalCount"] for p in pages} == {7}
    one_page = await api.query(SEGMENT_MEMBERS, {"id": created["id"], "first": 10})
    assert [e["node"]["id"] for e in one_page["segment"]["members"]["edges"]] == seen


async def test_segment_members_search(api: Api) -> None:
    # given a segment with members of different emails
    await members(api, "ann", email="ann@example.com")
    await members(api, "bob", email="bob@corp.test")
    await members(api, "cat", email="cat@example.com")
    created = await segment(api, "Mixed", memberIds=["ann", "bob", "cat"])

    # when its members are searched for "EXAMPLE"
    data = await api.query(SEGMENT_MEMBERS, {"id": created["id"], "search": "EXAMPLE"})

    # then only the matching members come, and totalCount counts the matches only
    found = data["segment"]["members"]
    assert [e["node"]["id"] for e in found["edges"]] == ["ann", "cat"]
    assert found["totalCount"] == 2
    assert data["segment"]["memberCount"] == 3


async def test_segment_companies_walk_every_page_once(api: Api) -> None:
    # given a segment listing five companies
    ids = ["co-a", "co-b", "co-c", "co-d", "co-e"]
    await companies(api, *ids)
    created = await segment(api, "Accounts", companyIds=ids)

    # when every page of its companies is read with first=2
    pages = await _walk(api, SEGMENT_COMPANIES, ["segment", "companies"], id=created["id"])

    # then each company comes once, and the count is right
    seen = [e["node"]["id"] for p in pages for e in p["edges"]]
    assert sorted(seen) == ids and len(set(seen)) == 5
    assert {p["totalCount"] for p in pages} == {5}
    assert pages[-1]["pageInfo"]["hasNextPage"] is False


# ------------------------------------------------------------------ audit trail


async def test_events_record_creation_lists_and_updates_newest_first(api: Api) -> None:
    # given members and a company
    await companies(api, "acme")
    await members(api, "m1", "m2")

    # when a segment is created with both lists, then updated twice
    created = await segment(api, "Audited", memberIds=["m1", "m2"], companyIds=["acme"])
    await _update(api, created["id"], description="one")
    await _update(api, created["id"], isActive=False)

    # then its trail holds every step, newest first, by the key that made it
    data = await api.query(SEGMENT_EVENTS, {"id": created["id"]})
    events = [e["node"] for e in data["segment"]["events"]["edges"]]
    assert [e["kind"] for e in events] == [
        "UPDATED",
        "UPDATED",
        "COMPANIES_ADDED",
        "MEMBERS_ADDED",
        "CREATED",
    ]
    assert {e["actor"] for e in events} == {"test-admin"}
    assert {e["segmentId"] for e in events} == {created["id"]}
    added = events[3]
    assert added["count"] == 2
    assert sorted(added["sampleIds"]) == ["m1", "m2"]
    assert (events[2]["count"], events[2]["sampleIds"]) == (1, ["acme"])
    stamps = [datetime.fromisoformat(e["at"]) for e in events]
    assert stamps == sorted(stamps, reverse=True)
    assert data["segment"]["events"]["totalCount"] == 5


async def test_events_name_the_key_that_acted(api: Api) -> None:
    # given a WRITER key named "writer-key" on the site
    writer = await api.with_role(Role.WRITER)

    # when the writer creates a segment
    created = await segment(writer, "By writer")

    # then the CREATED event names that key
    data = await api.query(SEGMENT_EVENTS, {"id": created["id"]})
    [event] = [e["node"] for e in data["segment"]["events"]["edges"]]
    assert (event["kind"], event["actor"]) == ("CREATED", "writer-key")


async def test_a_refused_change_records_no_event(api: Api) -> None:
    # given a segment and a second one holding the name "Taken"
    created = await segment(api, "Quiet")
    await segment(api, "Taken")

    # when an update is refused
    payload = await _update(api, created["id"], name="Taken")
    assert payload["userErrors"]

    # then the trail still holds only the creation
    data = await api.query(SEGMENT_EVENTS, {"id": created["id"]})
    assert [e["node"]["kind"] for e in data["segment"]["events"]["edges"]] == ["CREATED"]


async def test_events_walk_every_page_once(api: Api) -> None:
    # given a segment with one CREATED and four UPDATED events
    created = await segment(api, "Busy")
    for i in range(4):
        await _update(api, created["id"], description=f"v{i}")

    # when every page of events is read with first=2
    pages = await _walk(api, SEGMENT_EVENTS, ["segment", "events"], id=created["id"])

    # then all five come, newest first, without repeats
    kinds = [e["node"]["kind"] for p in pages for e in p["edges"]]
    assert kinds == ["UPDATED"] * 4 + ["CREATED"]
    assert {p["totalCount"] for p in pages} == {5}
    assert len(pages) == 3


# ------------------------------------------------------------------ query-count guard


async def _statements_for_listing(api: Api, how_many: int) -> tuple[int, list[dict[str, Any]]]:
    await companies(api, "acme", "initech")
    await members(api, "m1", "m2", companyId="acme")
    await members(api, "m3")
    for i in range(how_many):
        await segment(api, f"s{i:02}", memberIds=["m3"], companyIds=["acme"] if i % 2 else [])
    with count_statements() as statements:
        data = await api.query(SEGMENTS_WITH_COUNTS)
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
