"""Segment options over GraphQL: create, update (merge), delete, position order, labels
unique per segment, input limits, audit events, roles and tenancy."""

from __future__ import annotations

import pytest

from app.auth.models import Role
from tests.factories import Api, segment
from tests.personas.support import (
    CREATE_OPTION,
    DELETE_OPTION,
    SEGMENT_OPTIONS,
    UPDATE_OPTION,
    codes,
    events,
    option,
)


async def _labels(api: Api, segment_id: str) -> list[str]:
    data = await api.query(SEGMENT_OPTIONS, {"id": segment_id})
    return [o["label"] for o in data["segment"]["options"]]


async def test_options_are_listed_in_position_order(api: Api) -> None:
    # given a segment with options made out of order, one with no position
    region = await segment(api, "Region")
    await option(api, region["id"], "US", position=2)
    await option(api, region["id"], "EU", position=0, description="European Union")
    await option(api, region["id"], "APAC", position=1)
    last = await option(api, region["id"], "LATAM")

    # when the segment's options are read
    data = await api.query(SEGMENT_OPTIONS, {"id": region["id"]})

    # then they come in position order; the one with no position went after the others
    assert [o["label"] for o in data["segment"]["options"]] == ["EU", "APAC", "US", "LATAM"]
    assert last["position"] == 3
    assert data["segment"]["options"][0]["description"] == "European Union"


async def test_a_first_option_without_position_is_at_zero(api: Api) -> None:
    created = await option(api, (await segment(api, "Size"))["id"], "200+")
    assert created["position"] == 0


async def test_a_label_is_unique_within_its_segment_only(api: Api) -> None:
    # given an option "EU" on Region
    region = await segment(api, "Region")
    shipping = await segment(api, "Shipping")
    await option(api, region["id"], "EU")

    # when "EU" is added again to Region, and to another segment
    again = await api.query(CREATE_OPTION, {"input": {"segmentId": region["id"], "label": "EU"}})
    elsewhere = await option(api, shipping["id"], "EU")

    # then the first is ALREADY_EXISTS and the second is fine
    assert codes(again["createSegmentOption"]) == [("ALREADY_EXISTS", ["input", "label"])]
    assert again["createSegmentOption"]["option"] is None
    assert elsewhere["label"] == "EU"
    assert await _labels(api, region["id"]) == ["EU"]


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"label": "  "}, ["input", "label"]),
        ({"label": "x" * 201}, ["input", "label"]),
        ({"label": "ok", "description": "d" * 2001}, ["input", "description"]),
        ({"label": "ok", "position": -1}, ["input", "position"]),
    ],
    ids=["empty-label", "long-label", "long-description", "negative-position"],
)
async def test_bad_input_is_invalid_and_creates_nothing(
    api: Api, fields: dict[str, object], path: list[str]
) -> None:
    region = await segment(api, "Region")
    data = await api.query(CREATE_OPTION, {"input": {"segmentId": region["id"], **fields}})
    assert codes(data["createSegmentOption"]) == [("INVALID", path)]
    assert await _labels(api, region["id"]) == []


async def test_a_label_is_trimmed(api: Api) -> None:
    created = await option(api, (await segment(api, "Region"))["id"], "  EU ")
    assert created["label"] == "EU"


async def test_an_option_of_an_unknown_segment_is_not_found(api: Api) -> None:
    data = await api.query(CREATE_OPTION, {"input": {"segmentId": "999999", "label": "EU"}})
    assert codes(data["createSegmentOption"]) == [("NOT_FOUND", ["input", "segmentId"])]


async def test_update_changes_only_what_is_sent_and_may_reorder(api: Api) -> None:
    # given two options
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU", description="Europe")
    await option(api, region["id"], "US")

    # when EU is renamed and moved after US; then its description is cleared
    moved = await api.query(
        UPDATE_OPTION, {"id": eu["id"], "input": {"label": "EMEA", "position": 5}}
    )
    cleared = await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"description": None}})

    # then each change applied and the rest stayed
    assert moved["updateSegmentOption"]["option"] == {
        "id": eu["id"],
        "label": "EMEA",
        "description": "Europe",
        "position": 5,
    }
    assert cleared["updateSegmentOption"]["option"]["description"] is None
    assert cleared["updateSegmentOption"]["option"]["label"] == "EMEA"
    assert await _labels(api, region["id"]) == ["US", "EMEA"]


async def test_update_to_a_taken_label_or_to_nulls_is_refused(api: Api) -> None:
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    await option(api, region["id"], "US")

    taken = await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": "US"}})
    null_label = await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": None}})
    empty = await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": ""}})
    same = await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": "EU"}})

    assert codes(taken["updateSegmentOption"]) == [("ALREADY_EXISTS", ["input", "label"])]
    assert codes(null_label["updateSegmentOption"]) == [("INVALID", ["input", "label"])]
    assert codes(empty["updateSegmentOption"]) == [("INVALID", ["input", "label"])]
    assert same["updateSegmentOption"]["userErrors"] == []
    assert await _labels(api, region["id"]) == ["EU", "US"]


async def test_delete_removes_the_option(api: Api) -> None:
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    await option(api, region["id"], "US")

    deleted = await api.query(DELETE_OPTION, {"id": eu["id"]})
    again = await api.query(DELETE_OPTION, {"id": eu["id"]})

    assert deleted["deleteSegmentOption"] == {"deletedId": eu["id"], "userErrors": []}
    assert codes(again["deleteSegmentOption"]) == [("NOT_FOUND", ["id"])]
    assert await _labels(api, region["id"]) == ["US"]


async def test_unknown_ids_are_not_found(api: Api) -> None:
    for bad in ("999999", "not-a-number"):
        updated = await api.query(UPDATE_OPTION, {"id": bad, "input": {"label": "x"}})
        deleted = await api.query(DELETE_OPTION, {"id": bad})
        assert codes(updated["updateSegmentOption"]) == [("NOT_FOUND", ["id"])]
        assert codes(deleted["deleteSegmentOption"]) == [("NOT_FOUND", ["id"])]


async def test_each_option_change_is_audited_on_its_segment(api: Api) -> None:
    # given a segment, when an option is created, updated and deleted
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    await api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": "EMEA"}})
    await api.query(DELETE_OPTION, {"id": eu["id"]})

    # then the trail has one event of each kind, saying what changed
    trail = await events(api, region["id"])
    assert [e["kind"] for e in trail] == [
        "OPTION_DELETED",
        "OPTION_UPDATED",
        "OPTION_CREATED",
        "CREATED",
    ]
    assert trail[2]["changes"]["option"] == {
        "before": None,
        "after": {"label": "EU", "description": None, "position": 0},
    }
    assert trail[1]["changes"]["label"] == {"before": "EU", "after": "EMEA"}
    assert trail[0]["changes"]["option"]["after"] is None
    assert trail[0]["actor"] == "test-admin"


async def test_a_reader_reads_options_and_a_writer_changes_them(api: Api) -> None:
    # given an option, a READER and a WRITER
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    reader = await api.with_role(Role.READER)
    writer = await api.with_role(Role.WRITER)

    # when the reader reads and tries every change
    read = await reader.query(SEGMENT_OPTIONS, {"id": region["id"]})
    attempts = [
        await reader.raw(CREATE_OPTION, {"input": {"segmentId": region["id"], "label": "US"}}),
        await reader.raw(UPDATE_OPTION, {"id": eu["id"], "input": {"label": "x"}}),
        await reader.raw(DELETE_OPTION, {"id": eu["id"]}),
    ]

    # then it reads, and every change is FORBIDDEN; the writer may change
    assert [o["label"] for o in read["segment"]["options"]] == ["EU"]
    for body in attempts:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await option(writer, region["id"], "US"))["label"] == "US"
    assert await _labels(api, region["id"]) == ["EU", "US"]


async def test_another_sites_options_and_segments_are_not_found(api: Api, other_api: Api) -> None:
    # given acme's segment with an option
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")

    # when globex adds an option to it, updates and deletes acme's option
    created = await other_api.query(
        CREATE_OPTION, {"input": {"segmentId": region["id"], "label": "X"}}
    )
    updated = await other_api.query(UPDATE_OPTION, {"id": eu["id"], "input": {"label": "X"}})
    deleted = await other_api.query(DELETE_OPTION, {"id": eu["id"]})

    # then each is NOT_FOUND, and acme's options are untouched
    assert codes(created["createSegmentOption"]) == [("NOT_FOUND", ["input", "segmentId"])]
    assert codes(updated["updateSegmentOption"]) == [("NOT_FOUND", ["id"])]
    assert codes(deleted["deleteSegmentOption"]) == [("NOT_FOUND", ["id"])]
    assert await _labels(api, region["id"]) == ["EU"]
