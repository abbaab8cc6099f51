"""A cursor made by the caller, not by a page, holding a string key no row can have: one
with a NUL character (PostgreSQL refuses to compare a column with it) or one longer than the
column the listing is ordered by (the ORM refuses to build the comparison). Each is refused
as an invalid cursor (INVALID), never an INTERNAL error or an HTTP 500, on every listing
ordered by a string, and through the planned segments page as through the executor."""

from __future__ import annotations

import base64

import orjson
import pytest

from tests.factories import Api

# each string-keyed listing, with the size of the column it is ordered by
LISTINGS = {
    "segments": 200,  # segments.name
    "members": 255,  # members.external_id
    "companies": 255,  # companies.external_id
    "featureFlags": 100,  # feature_flags.key
    "personas": 200,  # personas.name
}


def cursor(key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode()


def page(field: str) -> str:
    return f"query($after: String) {{ {field}(after: $after, first: 2) {{ edges {{ cursor }} }} }}"


@pytest.mark.parametrize("field", list(LISTINGS))
@pytest.mark.parametrize("key", ["nul", "over the column", "huge"])
async def test_a_cursor_holding_a_key_no_row_can_have_is_invalid(
    api: Api, field: str, key: str
) -> None:
    size = LISTINGS[field]
    after = cursor({"nul": "a\x00b", "over the column": "z" * (size + 1), "huge": "z" * 5000}[key])

    # when a page is asked after it, three times (the planned segments page answers a
    # document seen twice)
    bodies = [(await api.post(page(field), {"after": after})) for _ in range(3)]

    # then each is refused as an invalid cursor, not an internal error
    for response in bodies:
        assert response.status_code == 200, response.text
        body = response.json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["INVALID"], body
        assert "Invalid cursor" in body["errors"][0]["message"]


@pytest.mark.parametrize("field", list(LISTINGS))
async def test_a_cursor_holding_a_key_as_long_as_the_column_reads_on(api: Api, field: str) -> None:
    # when a page is asked after a key as long as the column holds, past any row
    body = await api.raw(page(field), {"after": cursor("z" * LISTINGS[field])})

    # then it is read: an empty page
    assert body == {"data": {field: {"edges": []}}, **body}, body
    assert "errors" not in body, body
