"""A row's id is the one the API gives (its number in ASCII digits, nothing else): another
spelling of that number ("+2", " 2", "02", "0_2", the Arabic-Indic "٢") names no row. They
were the same row to int(), so a list naming one segment twice that way failed as if a
segment had been deleted meanwhile (createFeatureFlag: CONFLICT, "try again")."""

from __future__ import annotations

import pytest

from tests.factories import Api, segment

SPELLINGS = ["+{}", " {}", "0{}", "0_{}", "{} "]
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")

CREATE_FLAG = """mutation($ids: [ID!]) {
  createFeatureFlag(input: {key: "beta", segmentIds: $ids}) {
    featureFlag { key } userErrors { field message code }
  }
}"""


def spellings(pk: str) -> list[str]:
    return [s.format(pk) for s in SPELLINGS] + [pk.translate(ARABIC_INDIC)]


async def test_another_spelling_of_a_segment_id_names_no_segment(api: Api) -> None:
    made = await segment(api, "Gold")

    for other in spellings(made["id"]):
        # when the segment is asked by another spelling of its id
        data = await api.query("query($id: ID!) { segment(id: $id) { id } }", {"id": other})
        # then none is found
        assert data == {"segment": None}, other
    # and by its own, it is
    data = await api.query("query($id: ID!) { segment(id: $id) { id } }", {"id": made["id"]})
    assert data == {"segment": {"id": made["id"]}}


@pytest.mark.parametrize("spelling", range(len(SPELLINGS) + 1))
async def test_a_list_naming_a_segment_twice_is_refused_for_the_id_that_names_none(
    api: Api, spelling: int
) -> None:
    made = await segment(api, "Gold")
    other = spellings(made["id"])[spelling]

    # when a flag is made for the segment by its id and by another spelling of it
    payload = (await api.query(CREATE_FLAG, {"ids": [made["id"], other]}))["createFeatureFlag"]

    # then the other spelling is an unknown segment, said as such (not a conflict to retry)
    assert payload["featureFlag"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "NOT_FOUND", error
    assert repr(other) in error["message"]
