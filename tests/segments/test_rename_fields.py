"""updateSegment's refused renames name the input's name: to a taken name, or of a segment
another segment's rule names."""

from __future__ import annotations

from tests.factories import Api, segment
from tests.segments.support import _get, _update


async def test_renaming_a_segment_a_rule_names_points_at_the_new_name(api: Api) -> None:
    # given Base, named by the rule of Uses
    base = await segment(api, "Base")
    await segment(api, "Uses", type="DYNAMIC", rule="in_segment('Base')")
    # when Base is renamed
    payload = await _update(api, base["id"], name="Renamed")
    # then the conflict points at input.name, and Base keeps its name
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("CONFLICT", ["input", "name"])
    assert "Uses" in error["message"]
    stored = await _get(api, base["id"])
    assert stored is not None and stored["name"] == "Base"


async def test_renaming_a_named_segment_to_a_taken_name_points_at_the_name(api: Api) -> None:
    # given Base, named by the rule of Uses, and Other
    base = await segment(api, "Base")
    await segment(api, "Uses", type="DYNAMIC", rule="in_segment('Base')")
    await segment(api, "Other")
    # when Base is renamed to Other
    payload = await _update(api, base["id"], name="Other")
    # then the taken name is named at input.name
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("ALREADY_EXISTS", ["input", "name"])


async def test_a_description_change_of_a_named_segment_is_fine(api: Api) -> None:
    base = await segment(api, "Base")
    await segment(api, "Uses", type="DYNAMIC", rule="in_segment('Base')")
    payload = await _update(api, base["id"], name="Base", description="kept name")
    assert payload["userErrors"] == []
