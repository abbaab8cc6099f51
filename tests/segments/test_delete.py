"""Deleting segments over GraphQL."""

from __future__ import annotations

import pytest

from tests.factories import Api, companies, members, segment
from tests.segments.support import DELETE_SEGMENT, MEMBER, SEGMENT_BY_NAME, _get, _names

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
