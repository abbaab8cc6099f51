"""upsertCompanies names every invalid row in one answer and writes nothing."""

from __future__ import annotations

from typing import Any

from tests.factories import Api

UPSERT = """
mutation($companies: [CompanyInput!]!) {
  upsertCompanies(companies: $companies) { created updated userErrors { field message code } }
}
"""


async def test_every_invalid_company_row_is_reported(api: Api) -> None:
    # when a batch holds a good row and three rows, each invalid in its own way
    rows: list[dict[str, Any]] = [
        {"id": "ok", "name": "Fine"},
        {"id": "c1", "name": ""},
        {"id": "c2", "name": "Plan", "plan": "p" * 101},
        {"id": " ", "name": "No id"},
    ]
    data = await api.query(UPSERT, {"companies": rows})
    payload = data["upsertCompanies"]
    # then every one is reported at its row's field, and nothing is written
    assert (payload["created"], payload["updated"]) == (0, 0)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["companies", "1", "name"]),
        ("INVALID", ["companies", "2", "plan"]),
        ("INVALID", ["companies", "3", "id"]),
    ]
    listed = await api.query("query { companies(first: 1) { totalCount } }")
    assert listed["companies"]["totalCount"] == 0
