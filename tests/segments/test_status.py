"""A segment's status, derived from isActive, its window and the clock."""

from __future__ import annotations

import pytest

from tests.factories import Api, segment
from tests.segments.support import DAY, SEGMENTS, _at, _names, _update

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
