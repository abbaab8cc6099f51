"""A segment's members and companies, and its audit trail, over GraphQL."""

from __future__ import annotations

from datetime import datetime

from app.auth.models import Role
from tests.factories import Api, companies, members, segment
from tests.segments.support import (
    SEGMENT_COMPANIES,
    SEGMENT_EVENTS,
    SEGMENT_MEMBERS,
    _update,
    _walk,
)

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
