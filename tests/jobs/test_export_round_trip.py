"""An export imported again: the export's formula-safe cells (a quote before = + - @ or
leading whitespace, app/exports/cells.py) are read back by the CSV import as the values they
stand for, so ids, emails, names and company ids come back unchanged; and a CSV written with
the same escaping by another tool imports its attributes unescaped too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.exports.test_formulas import DANGEROUS, SAFE, export_text, rows_of
from tests.factories import Api, companies, members, segment
from tests.jobs.support import import_file

MEMBER = """
query($id: ID!) { member(id: $id) { id email name attributes company { id } } }
"""


async def member(api: Api, member_id: str) -> dict[str, Any]:
    found: dict[str, Any] = (await api.query(MEMBER, {"id": member_id}))["member"]
    return found


def given_members() -> list[dict[str, Any]]:
    """Members (as upsertMembers takes them) with every formula character first in every
    field that can hold it, safe values, and quotes before a formula character."""
    rows: list[dict[str, Any]] = []
    for i, first in enumerate(DANGEROUS):
        stored = first in "=+-@"  # ids and emails are trimmed, an email cannot start with @
        rows.append(
            {
                "id": f"{first}id" if stored else f"plain{i}",
                "email": f"{first}m@example.com" if first in "=+-" else None,
                "name": f"{first}name",
                "companyId": f"{first}co" if stored else None,
                "attributes": {"note": f"{first}cmd|calc", "n": -5},
            }
        )
    for i, value in enumerate([*SAFE, "'=x", "''-5"]):
        rows.append(
            {
                "id": f"s{i}{value}",
                "email": None,
                "name": value,
                "companyId": None,
                "attributes": {"note": value},
            }
        )
    rows.append(
        {
            "id": '=HYPERLINK("http://evil","x")',
            "email": None,
            "name": "=1+2",
            "companyId": None,
            "attributes": {"note": "+cmd|calc"},
        }
    )
    return rows


@pytest.mark.parametrize("kind", ["STATIC", "DYNAMIC"])
async def test_an_export_imports_back_unchanged(api: Api, other_api: Api, kind: str) -> None:
    # given members with formula characters first in their fields, exported from one site
    given = given_members()
    company_ids = sorted({r["companyId"] for r in given if r["companyId"]})
    for api_ in (api, other_api):
        await companies(api_, *company_ids)
    for row in given:
        await members(
            api,
            row["id"],
            email=row["email"],
            name=row["name"],
            companyId=row["companyId"],
            attributes={**row["attributes"], "kind": "evil"},
        )
    if kind == "DYNAMIC":
        seg = await segment(api, "S", type="DYNAMIC", rule="attributes.kind = 'evil'")
    else:
        seg = await segment(api, "S", memberIds=[r["id"] for r in given])
    text = await export_text(api, str(seg["id"]))
    assert any(line.startswith("'=") for line in text.splitlines())  # escaped on the way out
    # when the file is imported into another site
    imported = await import_file(other_api, text, "CSV")
    # then every row is read, and every member comes back with its id, email, name and
    # company unchanged (no quote left, leading whitespace kept)
    assert imported["status"] == "SUCCEEDED", imported
    assert imported["problems"] == []
    assert imported["created"] == len(given)
    for row in given:
        found = await member(other_api, row["id"])
        assert found is not None, row["id"]
        assert found["id"] == row["id"]
        assert found["email"] == row["email"]
        assert found["name"] == (row["name"] or None)
        assert (found["company"] or {}).get("id") == row["companyId"]
        # the export's attributes column (a JSON object) gives back the member's attributes,
        # and its source column (how the member was in the segment) is not one of them
        assert found["attributes"] == {**row["attributes"], "kind": "evil"}


async def test_escaped_attribute_cells_import_unescaped_and_typed(api: Api) -> None:
    # given a CSV whose attribute columns were made formula-safe the same way
    text = (
        "id,name,neg,formula,quoted,plain,quote,space\n"
        "'=u1,'-Ann,'-5,'=SUM(A1),''+x,'hello,',' @x\n"
    )
    # when it is imported
    imported = await import_file(api, text, "CSV")
    # then one quote before a formula character is dropped (the value then typed as any
    # other: -5 is a number), and any other quote kept
    assert imported["status"] == "SUCCEEDED" and imported["problems"] == []
    found = await member(api, "=u1")
    assert found["name"] == "-Ann"
    assert found["attributes"] == {
        "neg": -5,
        "formula": "=SUM(A1)",
        "quoted": "'+x",
        "plain": "'hello",
        "quote": "'",
        "space": "' @x",
    }


async def test_a_negative_number_round_trips_as_a_number(api: Api, other_api: Api) -> None:
    # given a member whose name and id are negative numbers: the export quotes them too
    await members(api, "-5", name="-12.5", attributes={"n": -5})
    seg = await segment(api, "S", memberIds=["-5"])
    text = await export_text(api, str(seg["id"]))
    assert rows_of(text)[1][:3] == ["'-5", "", "'-12.5"]
    # when imported elsewhere, they come back as they were
    await import_file(other_api, text, "CSV")
    found = await member(other_api, "-5")
    assert found["id"] == "-5" and found["name"] == "-12.5"
    assert found["attributes"] == {"n": -5}


async def test_an_attributes_column_is_a_json_object_of_attributes(api: Api) -> None:
    # given a CSV of its own (not an export's layout) with an attributes column and a source
    # column beside it, and a row whose attributes cell is not a JSON object
    text = (
        "id,source,attributes,tier\n"
        'u1,newsletter,"{""points"": 3, ""tier"": ""silver""}",gold\n'
        "u2,ads,[1],gold\n"
    )
    # when it is imported
    imported = await import_file(api, text, "CSV")
    # then the object's entries are attributes, a column beside it wins over the object, a
    # source column of a file that is no export is an attribute like any other, and the row
    # whose cell is no object is a problem naming the column
    found = await member(api, "u1")
    assert found["attributes"] == {"points": 3, "tier": "gold", "source": "newsletter"}
    assert [p["message"] for p in imported["problems"]] == [
        "the attributes column holds a JSON object, as exports write"
    ]
