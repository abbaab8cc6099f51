"""The export reads a segment a bounded page at a time: memory holds one page of rows (and
its CSV text), never the whole segment."""

from __future__ import annotations

from typing import Any

import pytest

from app.exports import service
from tests.exports.test_members_csv import export
from tests.factories import Api, members, segment


async def test_each_read_of_the_export_asks_for_one_page_at_most(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a segment of 7 members, exported 3 rows a page, every read recorded
    await members(api, *(f"m{i}" for i in range(1, 8)))
    seg = await segment(api, "S", memberIds=[f"m{i}" for i in range(1, 8)])
    monkeypatch.setattr(service, "BATCH", 3)
    asked: list[int] = []
    read = service.memberships.list_members

    async def recorded(**kwargs: Any) -> list[dict[str, Any]]:
        asked.append(kwargs["first"])
        rows = await read(**kwargs)
        assert len(rows) <= kwargs["first"] + 1
        return rows

    monkeypatch.setattr(service.memberships, "list_members", recorded)
    # when it is exported
    status, _, rows = await export(api, seg["id"])
    # then every member is there, read in pages of at most 3 rows (and one to see the end)
    assert status == 200
    assert [r[0] for r in rows[1:]] == [f"m{i}" for i in range(1, 8)]
    assert asked == [3, 3, 3]
