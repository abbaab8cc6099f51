"""The export's cells are read as text by a spreadsheet, never as formulas (OWASP "CSV
Injection"): a cell starting with = + - @ or a tab, carriage return or line feed is written
with a leading single quote; cells holding a semicolon or a tab are quoted (a spreadsheet may
split cells there); everything else is written as stored. Listed segments (on PostgreSQL,
lines mostly written by the database) and DYNAMIC ones (through the csv module) alike."""

from __future__ import annotations

import csv
import io
from typing import Any

import orjson
import pytest

from app.exports.cells import TRIGGERS, formula_safe, unescaped
from tests.factories import Api, companies, members, segment

KINDS = ["STATIC", "DYNAMIC"]
# every first character that makes a cell a formula
DANGEROUS = ["=", "+", "-", "@", "\t", "\r", "\n"]


async def export_text(api: Api, segment_id: str) -> str:
    """The export's body, as sent."""
    response = await api.client.get(
        f"/export/segments/{segment_id}/members.csv",
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.status_code == 200
    return response.text


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def segment_of(api: Api, kind: str, ids: list[str]) -> str:
    """A segment of these members (all with attribute kind = evil): listed, or by a rule."""
    if kind == "DYNAMIC":
        seg = await segment(api, "S", type="DYNAMIC", rule="attributes.kind = 'evil'")
    else:
        seg = await segment(api, "S", memberIds=ids)
    return str(seg["id"])


@pytest.mark.parametrize("kind", KINDS)
async def test_the_qa_row_is_written_formula_safe(api: Api, kind: str) -> None:
    # given the member QA found: a formula as id, as name and as an attribute
    evil = '=HYPERLINK("http://evil","x")'
    await members(api, evil, name="=1+2", attributes={"note": "+cmd|calc", "kind": "evil"})
    seg = await segment_of(api, kind, [evil])
    # when it is exported
    text = await export_text(api, seg)
    # then its id and name start with a quote; the attributes cell is a JSON object
    lines = text.splitlines()
    source = "MANUAL" if kind == "STATIC" else "RULE"
    assert len(lines) == 2
    assert lines[1].startswith(f'"\'=HYPERLINK(""http://evil"",""x"")",,\'=1+2,,{source},"{{')
    row = rows_of(text)[1]
    assert row[:5] == ["'" + evil, "", "'=1+2", "", source]
    assert orjson.loads(row[5]) == {"note": "+cmd|calc", "kind": "evil"}


@pytest.mark.parametrize("first", DANGEROUS, ids=repr)
@pytest.mark.parametrize("kind", KINDS)
async def test_every_dangerous_first_character_gets_a_quote(
    api: Api, kind: str, first: str
) -> None:
    # given a member whose every text field starts with the character (where it can be
    # stored: ids and emails are trimmed, an email cannot start with @), in a company
    # whose id does too, with attributes starting with it and a negative number
    stored_id = first in "=+-@"
    member_id = f"{first}id" if stored_id else "plain-id"
    email = f"{first}m@example.com" if first in "=+-" else None
    company = f"{first}co" if stored_id else None
    if company:
        await companies(api, company, name=f"{first}company")
    attributes = {"note": f"{first}cmd|calc", "n": -5, "kind": "evil"}
    await members(
        api, member_id, email=email, name=f"{first}name", companyId=company, attributes=attributes
    )
    seg = await segment_of(api, kind, [member_id])
    # when it is exported
    rows = rows_of(await export_text(api, seg))
    # then every such cell is the value after a quote; the attributes cell is the JSON of
    # the attributes, values (and the negative number) unchanged inside it
    assert len(rows) == 2
    member_id_cell, email_cell, name_cell, company_cell, _, attributes_cell = rows[1]
    assert member_id_cell == ("'" + member_id if stored_id else member_id)
    assert email_cell == ("'" + email if email else "")
    assert name_cell == f"'{first}name"
    assert company_cell == ("'" + company if company else "")
    assert attributes_cell.startswith("{")
    assert orjson.loads(attributes_cell) == attributes
    # and no cell of the export starts with a formula character
    assert not [c for r in rows for c in r if c[:1] in TRIGGERS]


SAFE = ["a=b", "x-1", "5", "'hello", "'", "O'Brien", "zoë ✓ 東京", "(1+2)", "#ref", "%p", "a b"]


@pytest.mark.parametrize("kind", KINDS)
async def test_safe_values_are_written_as_stored(api: Api, kind: str) -> None:
    # given members whose fields hold formula characters anywhere but first, or start with
    # a quote not followed by one
    ids = [f"s{i}-{v}" for i, v in enumerate(SAFE)]
    for member_id, value in zip(ids, SAFE, strict=True):
        await members(
            api, member_id, name=value, attributes={"note": value, "n": 5, "kind": "evil"}
        )
    await members(api, "s-none", attributes={"kind": "evil"})
    seg = await segment_of(api, kind, [*ids, "s-none"])
    # when they are exported
    rows = rows_of(await export_text(api, seg))
    # then every cell is the stored value
    assert [(r[0], r[2]) for r in rows[1:]] == [
        *[(i, v) for i, v in zip(ids, SAFE, strict=True)],
        ("s-none", ""),
    ]
    assert [orjson.loads(r[5])["note"] for r in rows[1:-1]] == SAFE


@pytest.mark.parametrize("kind", KINDS)
async def test_quotes_before_a_formula_character_get_one_more(api: Api, kind: str) -> None:
    # given values that already start with quotes before a formula character
    await members(api, "'=x", name="''-5", attributes={"kind": "evil"})
    seg = await segment_of(api, kind, ["'=x"])
    # when exported
    rows = rows_of(await export_text(api, seg))
    # then they get one more quote, so that the import can take exactly one away
    assert rows[1][:3] == ["''=x", "", "'''-5"]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_semicolon_or_a_tab_inside_a_cell_is_quoted(api: Api, kind: str) -> None:
    # given cells that a spreadsheet splitting on semicolons or tabs would cut before a
    # formula
    await companies(api, "c;=1")
    await members(api, "a;=1+2", name="x\t=1", companyId="c;=1", attributes={"kind": "evil"})
    seg = await segment_of(api, kind, ["a;=1+2"])
    # when exported
    text = await export_text(api, seg)
    # then each is one quoted cell
    line = text.splitlines()[1]
    assert line.startswith('"a;=1+2",,"x\t=1","c;=1",')
    assert rows_of(text)[1][:4] == ["a;=1+2", "", "x\t=1", "c;=1"]


async def test_listed_and_dynamic_exports_write_the_same_cells(api: Api) -> None:
    # given the same members, risky and safe, in a listed and in a DYNAMIC segment (on
    # PostgreSQL the listed one's lines are mostly written by the database)
    await companies(api, "=co", "plain-co")
    ids = []
    for i, value in enumerate([*DANGEROUS, *SAFE, "'=x", "a;b"]):
        member_id = f"m{i:02}"
        ids.append(member_id)
        await members(
            api,
            member_id,
            name=value,
            companyId=["=co", "plain-co", None][i % 3],
            attributes={"note": value, "kind": "evil"},
        )
    await members(api, "=HYPERLINK(1)", email="-x@example.com", attributes={"kind": "evil"})
    listed = await segment(api, "Listed", memberIds=[*ids, "=HYPERLINK(1)"])
    dynamic = await segment(api, "Rule", type="DYNAMIC", rule="attributes.kind = 'evil'")
    # when both are exported
    listed_text = await export_text(api, str(listed["id"]))
    dynamic_text = await export_text(api, str(dynamic["id"]))
    # then their lines are the same but for the source
    assert listed_text.replace(",MANUAL,", ",RULE,") == dynamic_text
    assert len(rows_of(listed_text)) == len(ids) + 2


def test_unescaped_undoes_formula_safe_exactly() -> None:
    values: list[Any] = [
        *[c + "x" for c in DANGEROUS],
        *[q + c + "x" for q in ("'", "''") for c in DANGEROUS],
        *DANGEROUS,
        *SAFE,
        "",
        "-5",
        "'-5",
        "'''",
    ]
    for value in values:
        cell = formula_safe(value)
        assert cell is not None
        assert cell[:1] not in TRIGGERS
        if cell == value:
            assert unescaped(cell) is None, value
        else:
            assert cell == "'" + value
            assert unescaped(cell) == value
    assert formula_safe(None) is None
