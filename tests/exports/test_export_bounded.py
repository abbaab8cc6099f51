"""The export reads a segment a bounded page at a time: memory holds a page of rows (and the
next one being read), never the whole segment; listed and DYNAMIC segments alike."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest

from app.exports import service
from tests.exports.test_members_csv import export
from tests.factories import Api, companies, members, segment

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


async def test_the_csv_goes_a_page_at_a_time(api: Api) -> None:
    # given a listed segment of 7 members
    await members(api, *IDS, attributes={"tier": "gold"})
    seg = await segment(api, "S", memberIds=IDS)
    # when its CSV is made 3 rows a page
    chunks = [
        chunk.decode()
        async for chunk in service.csv_chunks(
            site_id=api.site.id, segment_pk=int(seg["id"]), batch=3
        )
    ]
    # then the header comes alone, then a chunk per page of 3 lines at most
    assert chunks[0] == "id,email,name,company_id,source,attributes\n"
    assert [c.count("\n") for c in chunks[1:]] == [3, 3, 1]
    assert [line.split(",")[0] for c in chunks[1:] for line in c.splitlines()] == IDS


ODD_ATTRIBUTES: list[dict[str, Any]] = [
    {"note": 'say "hi", then: bye', "a, b": [1, 2.5, {"c: d": None}]},
    {"path": "C:\\temp\\x", "quote": '\\"', "line": "a\nb\tc"},
    {"price": 19.99, "big": 12345678901234, "tiny": 0.001, "neg": -3, "flag": True},
    {"unicode": "zoë ✓ 東京", "empty": "", "list": []},
    {},
    {"nested": {"k": {"k": "v, w: x"}}, "s": "}{]["},
]


@pytest.mark.parametrize("batch", [1, 2, 50])
async def test_the_csv_is_what_the_csv_module_writes_of_the_member_rows(
    api: Api, batch: int
) -> None:
    # given members whose every field needs care in CSV and in JSON, some of them in a
    # company whose name needs quoting, listed in one segment
    await companies(api, "c1", name='Acme, "the" best')
    await companies(api, "c2", name="Plain")
    ids = []
    for i, attributes in enumerate(ODD_ATTRIBUTES):
        ids.append(f"m{i}")
        await members(
            api,
            f"m{i}",
            email=None if i % 2 else f'odd"{i}@example.com',
            name=["Ann, Smith", 'Say "x"', "line\nbreak", "cr\rhere", "", "plain"][i],
            companyId=[None, "c1", "c2"][i % 3],
            attributes=attributes,
        )
    seg = await segment(api, "S", memberIds=ids)
    # when the CSV is made (on PostgreSQL, mostly by the database)
    made = b"".join(
        [
            chunk
            async for chunk in service.csv_chunks(
                site_id=api.site.id, segment_pk=int(seg["id"]), batch=batch
            )
        ]
    ).decode()
    # then it is exactly what Python's csv module writes of the member rows (a carriage
    # return quoted too, as the module does not)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(service.COLUMNS)
    async for rows in service.member_rows(site_id=api.site.id, segment_pk=int(seg["id"])):
        writer.writerows(rows)
    assert made == buffer.getvalue().replace(",cr\rhere,", ',"cr\rhere",')
    # and the attributes read back as the members' own
    read = list(csv.reader(io.StringIO(made)))
    assert [orjson.loads(r[5]) for r in read[1:]] == ODD_ATTRIBUTES
