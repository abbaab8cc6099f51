"""Creating and reading segments over GraphQL: fields, user errors, the lists made at creation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.settings import get_settings
from tests.factories import Api, companies, members, segment
from tests.segments.support import (
    DAY,
    SEGMENT,
    SEGMENT_BY_NAME,
    SEGMENT_COMPANIES,
    SEGMENT_MEMBERS,
    _at,
    _create,
    _get,
    _names,
)

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
