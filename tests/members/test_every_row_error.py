"""upsertMembers names every invalid row in one answer (each at its own path), capped at
MAX_LISTED_ERRORS with one error counting the rest, and writes nothing."""

from __future__ import annotations

from typing import Any

from app.errors import MAX_LISTED_ERRORS
from tests.factories import Api, companies, members

UPSERT = """
mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { field message code } }
}
"""

COUNT = "query { members(first: 1) { totalCount } }"


async def _upsert(api: Api, rows: list[dict[str, Any]]) -> dict[str, Any]:
    payload: dict[str, Any] = (await api.query(UPSERT, {"members": rows}))["upsertMembers"]
    return payload


async def _count(api: Api) -> int:
    total: int = (await api.query(COUNT))["members"]["totalCount"]
    return total


async def test_two_invalid_rows_are_both_reported(api: Api) -> None:
    # when a batch holds a good row and two rows, each invalid in its own way
    rows = [{"id": "ok"}, {"id": ""}, {"id": "u2", "email": "not-an-email"}]
    payload = await _upsert(api, rows)
    # then both are reported at once, in row order, and nothing is written
    assert (payload["created"], payload["updated"]) == (0, 0)
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("INVALID", ["members", "1", "id"]),
        ("INVALID", ["members", "2", "email"]),
    ]
    assert "not-an-email" in payload["userErrors"][1]["message"]
    assert await _count(api) == 0


async def test_every_unknown_company_is_reported(api: Api) -> None:
    # given company acme and a member
    await companies(api, "acme")
    await members(api, "u0")
    # when two rows name unknown companies
    rows = [{"id": "u1", "companyId": "x"}, {"id": "u2", "companyId": "acme"}]
    payload = await _upsert(api, [*rows, {"id": "u3", "companyId": "y"}])
    # then both are reported, and no member is written
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [
        ("NOT_FOUND", ["members", "0", "companyId"]),
        ("NOT_FOUND", ["members", "2", "companyId"]),
    ]
    assert await _count(api) == 1


async def test_the_listed_errors_are_capped_and_the_rest_counted(api: Api) -> None:
    # when more rows than the cap are invalid
    rows = [{"id": f"u{i}", "email": "bad"} for i in range(MAX_LISTED_ERRORS + 5)]
    payload = await _upsert(api, rows)
    # then the first MAX_LISTED_ERRORS are listed, and one more error counts the rest
    errors = payload["userErrors"]
    assert len(errors) == MAX_LISTED_ERRORS + 1
    assert errors[-2]["field"] == ["members", str(MAX_LISTED_ERRORS - 1), "email"]
    assert (errors[-1]["code"], errors[-1]["field"]) == ("INVALID", None)
    assert "5 more" in errors[-1]["message"]
    assert await _count(api) == 0
