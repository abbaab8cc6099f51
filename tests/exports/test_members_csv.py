"""GET /export/segments/{id}/members.csv: every effective member, as CSV, streamed in batches,
for the caller's own segments only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from app.auth.models import Role
from app.exports import service
from app.members.models import Member
from app.memberships.models import SegmentMember
from tests.factories import Api, companies, members, segment
from tests.jobs.support import import_file

UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added userErrors { message } }
}
"""
EXCLUDE = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added userErrors { message } }
}
"""


async def export(api: Api, segment_id: str) -> tuple[int, str, list[list[str]]]:
    response = await api.client.get(
        f"/export/segments/{segment_id}/members.csv",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    rows = list(csv.reader(io.StringIO(response.text))) if response.status_code == 200 else []
    return response.status_code, response.headers.get("content-type", ""), rows


async def given_segment(api: Api) -> str:
    """A segment with a manual listing, an import listing, a company's members, an excluded
    member and an expired listing."""
    await companies(api, "c1", name="Acme")
    await members(api, "m1", email="m1@example.com", name="One", attributes={"tier": "gold"})
    await members(api, "m2", name='Two, "quoted"', companyId="c1", attributes={"n": 2})
    await members(api, "m3", companyId="c1")
    await members(api, "m4", "m5", "m6")
    seg = await segment(api, "S", memberIds=["m1", "m5"], companyIds=["c1"])
    imported = await import_file(api, "id\nm4\n", "CSV", segment_id=seg["id"])
    assert imported["addedToSegment"] == 1
    await api.query(
        UPDATE_MEMBERS,
        {
            "input": {
                "segmentId": seg["id"],
                "memberIds": ["m6"],
                "mode": "ADD",
                "expiresAt": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
            }
        },
    )
    await SegmentMember.filter(member_id__in=await _pks(api, "m6")).update(
        expires_at=datetime.now(UTC) - timedelta(days=1)
    )
    await api.query(
        EXCLUDE, {"input": {"segmentId": seg["id"], "memberIds": ["m5"], "mode": "ADD"}}
    )
    return str(seg["id"])


async def _pks(api: Api, *ids: str) -> list[int]:
    return [m.id async for m in Member.filter(site_id=api.site.id, external_id__in=list(ids))]


@pytest.mark.parametrize("batch", [2, 5000], ids=["many-batches", "one-batch"])
async def test_export_streams_every_effective_member(
    api: Api, batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a segment with every way of being (and not being) a member, exported in batches
    monkeypatch.setattr(service, "BATCH", batch)
    seg = await given_segment(api)
    # when it is exported
    status, content_type, rows = await export(api, seg)
    # then it is CSV: a header, then each effective member once, in member order
    assert status == 200
    assert content_type.startswith("text/csv")
    assert rows[0] == ["id", "email", "name", "company_id", "source", "attributes"]
    assert rows[1:] == [
        ["m1", "m1@example.com", "One", "", "MANUAL", '{"tier":"gold"}'],
        ["m2", "", 'Two, "quoted"', "c1", "COMPANY", '{"n":2}'],
        ["m3", "", "", "c1", "COMPANY", "{}"],
        ["m4", "", "", "", "IMPORT", "{}"],
    ]
    assert orjson.loads(rows[1][5]) == {"tier": "gold"}


async def test_an_empty_segment_exports_the_header_alone(api: Api) -> None:
    seg = await segment(api, "Empty")
    status, _, rows = await export(api, seg["id"])
    assert status == 200
    assert rows == [["id", "email", "name", "company_id", "source", "attributes"]]


async def test_a_reader_may_export(api: Api) -> None:
    seg = await given_segment(api)
    reader = await api.with_role(Role.READER)
    status, _, rows = await export(reader, seg)
    assert status == 200 and len(rows) == 5


async def test_another_sites_segment_is_not_found(api: Api, other_api: Api) -> None:
    seg = await given_segment(api)
    status, _, rows = await export(other_api, seg)
    assert status == 404
    assert rows == []


@pytest.mark.parametrize("segment_id", ["999999", "not-an-id"])
async def test_an_unknown_segment_is_not_found(api: Api, segment_id: str) -> None:
    status, _, _ = await export(api, segment_id)
    assert status == 404


async def test_export_needs_a_key(api: Api) -> None:
    seg = await given_segment(api)
    response = await api.client.get(f"/export/segments/{seg}/members.csv")
    assert response.status_code == 401
    bad = await api.client.get(
        f"/export/segments/{seg}/members.csv", headers={"Authorization": "Bearer nope"}
    )
    assert bad.status_code == 401
