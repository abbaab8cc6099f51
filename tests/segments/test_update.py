"""Merge updates of segments over GraphQL."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.factories import Api, segment
from tests.segments.support import DAY, SEGMENT_BY_NAME, _at, _get, _update

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
