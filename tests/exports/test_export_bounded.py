"""The export reads a segment a bounded page at a time: memory holds a page of rows (and the
next one being read), never the whole segment; listed and DYNAMIC segments alike."""

from __future__ import annotations

import pytest

from app.exports import service
from tests.exports.test_members_csv import export
from tests.factories import Api, members, segment

IDS = [f"m{i}" for i in range(1, 8)]


@pytest.mark.parametrize("kind", ["STATIC", "DYNAMIC"])
async def test_the_export_goes_a_page_of_rows_at_a_time(api: Api, kind: str) -> None:
    # given a segment of 7 members (listed, or matched by a rule)
    await members(api, *IDS, attributes={"tier": "gold"})
    if kind == "DYNAMIC":
        seg = await segment(api, "S", type="DYNAMIC", rule="attributes.tier = 'gold'")
    else:
        seg = await segment(api, "S", memberIds=IDS)
    # when it is read 3 rows a page
    pages = [
        page
        async for page in service.member_rows(
            site_id=api.site.id, segment_pk=int(seg["id"]), batch=3
        )
    ]
    # then every page holds 3 rows at most, and together they are every member once
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [row[0] for page in pages for row in page] == IDS
    assert {row[5] for page in pages for row in page} == {'{"tier":"gold"}'}


async def test_the_streamed_csv_is_the_same_whatever_the_page(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a listed segment of 7 members, exported in pages of 3 and in one page
    await members(api, *IDS)
    seg = await segment(api, "S", memberIds=IDS)
    monkeypatch.setattr(service, "BATCH", 3)
    paged = await export(api, seg["id"])
    monkeypatch.setattr(service, "BATCH", 1000)
    # then both are the same CSV
    assert paged == await export(api, seg["id"])
    assert [r[0] for r in paged[2][1:]] == IDS
