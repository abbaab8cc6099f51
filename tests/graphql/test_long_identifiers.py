"""A segment name longer than any segment's (the column holds 200 characters; the input
guard lets names of up to 255 through, the size of other names) names no segment:
segmentByName answers null, never INTERNAL from the ORM's length check."""

from __future__ import annotations

import pytest

from tests.factories import Api, segment

BY_NAME = "query($v: String!) { segmentByName(name: $v) { id name } }"


@pytest.mark.parametrize("length", [201, 255])
async def test_a_name_longer_than_any_segment_name_names_none(api: Api, length: int) -> None:
    # given a segment whose name is as long as a name can be
    longest = "n" * 200
    await segment(api, longest)

    # when a name longer than that is asked for
    body = await api.raw(BY_NAME, {"v": "n" * length})

    # then no segment has it: null, no error
    assert body["data"] == {"segmentByName": None} and "errors" not in body, body
    # and the longest is still found by its name
    found = await api.query(BY_NAME, {"v": longest})
    assert found["segmentByName"]["name"] == longest
