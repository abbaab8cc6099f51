"""Feature flags over GraphQL: create, read, list, merge update, delete, target segments
(cascade when a segment goes), userErrors that change nothing, roles, tenancy, and a fixed
number of SQL statements for Segment.featureFlags and FeatureFlag.segments."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.models import Role
from app.flags import service as flags
from tests.factories import Api, count_statements, segment

CREATE_FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) {
    featureFlag { id key description enabled segments { id name } createdAt updatedAt }
    userErrors { field message code }
  }
}
"""

UPDATE_FLAG = """
mutation($key: String!, $input: UpdateFeatureFlagInput!) {
  updateFeatureFlag(key: $key, input: $input) {
    featureFlag { id key description enabled segments { id name } updatedAt }
    userErrors { field message code }
  }
}
"""

DELETE_FLAG = """
mutation($key: String!) {
  deleteFeatureFlag(key: $key) { deletedId userErrors { field message code } }
}
"""

FLAG = """
query($key: String!) {
  featureFlag(key: $key) { id key description enabled segments { id name } }
}
"""

FLAGS = """
query($first: Int, $after: String) {
  featureFlags(first: $first, after: $after) {
    totalCount
    edges { cursor node { key segments { name } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

SEGMENT_FLAGS = """
query($id: ID!) { segment(id: $id) { name featureFlags { key enabled } } }
"""

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { code } } }
"""


async def _create(api: Api, key: str, **fields: Any) -> dict[str, Any]:
    data = await api.query(CREATE_FLAG, {"input": {"key": key, **fields}})
    payload = data["createFeatureFlag"]
    assert payload["userErrors"] == [], payload["userErrors"]
    flag: dict[str, Any] = payload["featureFlag"]
    return flag


async def _flag(api: Api, key: str) -> dict[str, Any] | None:
    flag: dict[str, Any] | None = (await api.query(FLAG, {"key": key}))["featureFlag"]
    return flag


def _codes(payload: dict[str, Any]) -> list[tuple[str, list[str] | None]]:
    return [(e["code"], e["field"]) for e in payload["userErrors"]]


# ------------------------------------------------------------------ create and read


async def test_a_flag_is_created_with_its_segments_and_read_back_by_key(api: Api) -> None:
    # given two segments
    beta = await segment(api, "Beta")
    staff = await segment(api, "Staff")

    # when a flag targets both
    created = await _create(
        api,
        "new-checkout",
        description="The new checkout page",
        enabled=False,
        segmentIds=[staff["id"], beta["id"]],
    )

    # then it comes back as asked, its segments in name order
    assert created["key"] == "new-checkout"
    assert created["description"] == "The new checkout page"
    assert created["enabled"] is False
    assert [s["name"] for s in created["segments"]] == ["Beta", "Staff"]
    assert created["createdAt"].endswith("+00:00")
    # and reads back the same by key
    assert await _flag(api, "new-checkout") == {
        "id": created["id"],
        "key": "new-checkout",
        "description": "The new checkout page",
        "enabled": False,
        "segments": [{"id": beta["id"], "name": "Beta"}, {"id": staff["id"], "name": "Staff"}],
    }


async def test_a_flag_is_enabled_with_no_segments_by_default(api: Api) -> None:
    # when a flag is created with a key alone
    created = await _create(api, "dark-mode")

    # then it is enabled, targets nothing, and has no description
    assert (created["enabled"], created["segments"], created["description"]) == (True, [], None)


async def test_an_unknown_key_reads_as_null(api: Api) -> None:
    # then a key no flag has is null, with no error
    body = await api.raw(FLAG, {"key": "nope"})
    assert "errors" not in body
    assert body["data"] == {"featureFlag": None}


async def test_the_same_segment_named_twice_is_targeted_once(api: Api) -> None:
    # given a segment
    beta = await segment(api, "Beta")

    # when a flag names it twice
    created = await _create(api, "twice", segmentIds=[beta["id"], beta["id"]])

    # then it is one target
    assert [s["name"] for s in created["segments"]] == ["Beta"]


async def test_segment_feature_flags_lists_the_flags_targeting_it_in_key_order(api: Api) -> None:
    # given a segment targeted by two flags, and a flag that does not target it
    beta = await segment(api, "Beta")
    other = await segment(api, "Other")
    await _create(api, "zeta", segmentIds=[beta["id"]])
    await _create(api, "alpha", segmentIds=[beta["id"], other["id"]], enabled=False)
    await _create(api, "unrelated", segmentIds=[other["id"]])

    # when the segment is read with its flags
    data = await api.query(SEGMENT_FLAGS, {"id": beta["id"]})

    # then exactly the two flags come, in key order
    assert data["segment"]["featureFlags"] == [
        {"key": "alpha", "enabled": False},
        {"key": "zeta", "enabled": True},
    ]


# ------------------------------------------------------------------ create refused


async def test_a_taken_key_is_already_exists_and_changes_nothing(api: Api) -> None:
    # given a flag
    await _create(api, "dark-mode", description="first")

    # when another is created with the same key
    data = await api.query(CREATE_FLAG, {"input": {"key": "dark-mode", "description": "second"}})

    # then it is refused, and the first flag is as it was
    payload = data["createFeatureFlag"]
    assert payload["featureFlag"] is None
    assert _codes(payload) == [("ALREADY_EXISTS", ["input", "key"])]
    assert (await _flag(api, "dark-mode") or {})["description"] == "first"
    assert (await api.query(FLAGS))["featureFlags"]["totalCount"] == 1


@pytest.mark.parametrize(
    "key",
    ["", " dark", "dark mode", "-dark", "dark/mode", "é", "x" * 101],
    ids=["empty", "leading-space", "space", "leading-dash", "slash", "non-ascii", "too-long"],
)
async def test_a_malformed_key_is_invalid_and_creates_nothing(api: Api, key: str) -> None:
    # when a flag is created with a malformed key
    data = await api.query(CREATE_FLAG, {"input": {"key": key}})

    # then it is refused and no flag exists
    assert _codes(data["createFeatureFlag"]) == [("INVALID", ["input", "key"])]
    assert (await api.query(FLAGS))["featureFlags"]["totalCount"] == 0


async def test_keys_may_use_letters_digits_and_separators_up_to_100(api: Api) -> None:
    # when flags are created with the longest key and with every separator
    for key in ["a" * 100, "Checkout_v2.new-page:eu", "9lives"]:
        await _create(api, key)

    # then all exist
    assert (await api.query(FLAGS))["featureFlags"]["totalCount"] == 3


async def test_unknown_segment_ids_are_not_found_and_create_nothing(api: Api) -> None:
    # given one real segment
    beta = await segment(api, "Beta")

    # when a flag names it and two ids that name no segment
    data = await api.query(
        CREATE_FLAG, {"input": {"key": "f", "segmentIds": [beta["id"], "999999", "not-a-number"]}}
    )

    # then it is refused naming the unknown ids, and no flag exists
    payload = data["createFeatureFlag"]
    assert _codes(payload) == [("NOT_FOUND", ["input", "segmentIds"])]
    assert "'999999'" in payload["userErrors"][0]["message"]
    assert "'not-a-number'" in payload["userErrors"][0]["message"]
    assert await _flag(api, "f") is None
    assert (await api.query(SEGMENT_FLAGS, {"id": beta["id"]}))["segment"]["featureFlags"] == []


async def test_a_description_over_the_limit_is_invalid(api: Api) -> None:
    # when a flag's description is over the limit (2000 by default)
    data = await api.query(CREATE_FLAG, {"input": {"key": "f", "description": "x" * 2001}})

    # then it is refused
    assert _codes(data["createFeatureFlag"]) == [("INVALID", ["input", "description"])]
    assert await _flag(api, "f") is None


async def test_more_targets_than_the_limit_is_too_large(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of two segments per flag, and three segments
    monkeypatch.setattr(flags, "MAX_TARGETS", 2)
    ids = [(await segment(api, name))["id"] for name in ("A", "B", "C")]

    # when a flag targets all three
    data = await api.query(CREATE_FLAG, {"input": {"key": "f", "segmentIds": ids}})

    # then it is refused
    assert _codes(data["createFeatureFlag"]) == [("TOO_LARGE", ["input", "segmentIds"])]
    assert await _flag(api, "f") is None


# ------------------------------------------------------------------ update


async def test_update_changes_only_what_is_sent(api: Api) -> None:
    # given a flag with a description, disabled, targeting a segment
    beta = await segment(api, "Beta")
    created = await _create(api, "f", description="keep me", enabled=False, segmentIds=[beta["id"]])

    # when only enabled is sent
    data = await api.query(UPDATE_FLAG, {"key": "f", "input": {"enabled": True}})

    # then enabled changed, and the description and segments stayed
    flag = data["updateFeatureFlag"]["featureFlag"]
    assert data["updateFeatureFlag"]["userErrors"] == []
    assert (flag["enabled"], flag["description"], flag["segments"]) == (
        True,
        "keep me",
        [{"id": beta["id"], "name": "Beta"}],
    )
    assert flag["updatedAt"] >= created["updatedAt"]


async def test_update_segment_ids_replaces_the_whole_set(api: Api) -> None:
    # given a flag targeting A and B
    a, b, c = [await segment(api, name) for name in ("A", "B", "C")]
    await _create(api, "f", segmentIds=[a["id"], b["id"]])

    # when its segments are set to B and C
    data = await api.query(UPDATE_FLAG, {"key": "f", "input": {"segmentIds": [c["id"], b["id"]]}})

    # then it targets exactly B and C, and A no longer lists it
    assert [s["name"] for s in data["updateFeatureFlag"]["featureFlag"]["segments"]] == ["B", "C"]
    assert (await api.query(SEGMENT_FLAGS, {"id": a["id"]}))["segment"]["featureFlags"] == []

    # and an empty list clears them all
    data = await api.query(UPDATE_FLAG, {"key": "f", "input": {"segmentIds": []}})
    assert data["updateFeatureFlag"]["featureFlag"]["segments"] == []


async def test_update_with_null_description_clears_it(api: Api) -> None:
    # given a flag with a description
    await _create(api, "f", description="old")

    # when the description is sent as null
    data = await api.query(UPDATE_FLAG, {"key": "f", "input": {"description": None}})

    # then it is cleared
    assert data["updateFeatureFlag"]["featureFlag"]["description"] is None


@pytest.mark.parametrize("field", ["enabled", "segmentIds"])
async def test_update_with_null_for_a_required_field_is_invalid(api: Api, field: str) -> None:
    # given a flag
    beta = await segment(api, "Beta")
    await _create(api, "f", segmentIds=[beta["id"]], enabled=False)

    # when the field is sent as null
    data = await api.query(UPDATE_FLAG, {"key": "f", "input": {field: None}})

    # then it is refused and the flag is unchanged
    assert _codes(data["updateFeatureFlag"]) == [("INVALID", ["input", field])]
    flag = await _flag(api, "f") or {}
    assert (flag["enabled"], [s["name"] for s in flag["segments"]]) == (False, ["Beta"])


async def test_update_with_an_unknown_segment_changes_nothing_at_all(api: Api) -> None:
    # given a disabled flag targeting a segment
    beta = await segment(api, "Beta")
    await _create(api, "f", segmentIds=[beta["id"]], enabled=False, description="old")

    # when an update enables it, changes the description and sets an unknown segment
    data = await api.query(
        UPDATE_FLAG,
        {"key": "f", "input": {"enabled": True, "description": "new", "segmentIds": ["424242"]}},
    )

    # then it is refused, and nothing of it was applied
    assert _codes(data["updateFeatureFlag"]) == [("NOT_FOUND", ["input", "segmentIds"])]
    flag = await _flag(api, "f") or {}
    assert (flag["enabled"], flag["description"], [s["name"] for s in flag["segments"]]) == (
        False,
        "old",
        ["Beta"],
    )


async def test_update_of_an_unknown_key_is_not_found(api: Api) -> None:
    # when a flag that does not exist is updated
    data = await api.query(UPDATE_FLAG, {"key": "ghost", "input": {"enabled": False}})

    # then it is not found
    assert _codes(data["updateFeatureFlag"]) == [("NOT_FOUND", ["key"])]
    assert data["updateFeatureFlag"]["featureFlag"] is None


# ------------------------------------------------------------------ delete and cascade


async def test_deleting_a_flag_leaves_its_segments(api: Api) -> None:
    # given a flag targeting a segment
    beta = await segment(api, "Beta")
    created = await _create(api, "f", segmentIds=[beta["id"]])

    # when the flag is deleted
    data = await api.query(DELETE_FLAG, {"key": "f"})

    # then it is gone, and the segment is still there, targeted by nothing
    assert data["deleteFeatureFlag"] == {"deletedId": created["id"], "userErrors": []}
    assert await _flag(api, "f") is None
    assert (await api.query(SEGMENT_FLAGS, {"id": beta["id"]}))["segment"] == {
        "name": "Beta",
        "featureFlags": [],
    }


async def test_deleting_an_unknown_flag_is_not_found(api: Api) -> None:
    # when a flag that does not exist is deleted
    data = await api.query(DELETE_FLAG, {"key": "ghost"})

    # then it is not found
    assert data["deleteFeatureFlag"]["deletedId"] is None
    assert _codes(data["deleteFeatureFlag"]) == [("NOT_FOUND", ["key"])]


async def test_deleting_a_segment_removes_it_from_every_flag_and_the_flags_stay(
    api: Api,
) -> None:
    # given two flags targeting a segment, one of them another segment too
    doomed = await segment(api, "Doomed")
    kept = await segment(api, "Kept")
    await _create(api, "one", segmentIds=[doomed["id"]])
    await _create(api, "two", segmentIds=[doomed["id"], kept["id"]])

    # when the segment is deleted
    data = await api.query(DELETE_SEGMENT, {"id": doomed["id"]})
    assert data["deleteSegment"]["userErrors"] == []

    # then both flags stay, without it
    assert [s["name"] for s in (await _flag(api, "one") or {})["segments"]] == []
    assert [s["name"] for s in (await _flag(api, "two") or {})["segments"]] == ["Kept"]
    # and the live targets evaluation reads do not name it either
    targets = await flags.live_targets(site_id=api.site.id)
    assert {t.key: t.segment_pks for t in targets} == {"one": (), "two": (int(kept["id"]),)}


# ------------------------------------------------------------------ listing


async def test_feature_flags_pages_through_every_flag_in_key_order(api: Api) -> None:
    # given five flags made out of order
    for key in ["delta", "alpha", "echo", "charlie", "bravo"]:
        await _create(api, key)

    # when they are listed two at a time
    keys: list[str] = []
    after = None
    pages = 0
    while True:
        data = (await api.query(FLAGS, {"first": 2, "after": after}))["featureFlags"]
        pages += 1
        assert data["totalCount"] == 5
        keys += [e["node"]["key"] for e in data["edges"]]
        assert data["pageInfo"]["hasPreviousPage"] is (after is not None)
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]

    # then every flag came once, in key order, over three pages
    assert keys == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert pages == 3


async def test_a_page_over_the_limit_is_refused(api: Api) -> None:
    # when more than the page size limit (500 by default) is asked
    body = await api.raw(FLAGS, {"first": 501})

    # then the request is refused with the limit named
    assert body["errors"][0]["extensions"]["code"] == "TOO_LARGE"


# ------------------------------------------------------------------ roles


async def test_a_reader_can_read_flags_but_not_change_them(api: Api) -> None:
    # given a flag and a READER key of the same site
    await _create(api, "f", enabled=False)
    reader = await api.with_role(Role.READER)

    # when the reader reads it, then tries to create, update and delete
    read = await reader.query(FLAG, {"key": "f"})
    attempts = [
        await reader.raw(CREATE_FLAG, {"input": {"key": "g"}}),
        await reader.raw(UPDATE_FLAG, {"key": "f", "input": {"enabled": True}}),
        await reader.raw(DELETE_FLAG, {"key": "f"}),
    ]

    # then it reads, and every change is FORBIDDEN with nothing changed
    assert read["featureFlag"]["key"] == "f"
    for body in attempts:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await _flag(api, "f") or {})["enabled"] is False
    assert await _flag(api, "g") is None


async def test_a_writer_can_change_flags(api: Api) -> None:
    # given a WRITER key
    writer = await api.with_role(Role.WRITER)

    # when it creates, updates and deletes a flag
    await _create(writer, "f")
    updated = await writer.query(UPDATE_FLAG, {"key": "f", "input": {"enabled": False}})
    deleted = await writer.query(DELETE_FLAG, {"key": "f"})

    # then each change is applied
    assert updated["updateFeatureFlag"]["featureFlag"]["enabled"] is False
    assert deleted["deleteFeatureFlag"]["userErrors"] == []
    assert await _flag(api, "f") is None


# ------------------------------------------------------------------ tenancy


async def test_another_sites_flags_are_invisible_and_untouchable(api: Api, other_api: Api) -> None:
    # given a flag of acme
    await _create(api, "acme-flag", description="acme's")

    # when globex reads, lists, updates and deletes it
    read = await other_api.query(FLAG, {"key": "acme-flag"})
    listed = await other_api.query(FLAGS)
    updated = await other_api.query(
        UPDATE_FLAG, {"key": "acme-flag", "input": {"description": "globex's"}}
    )
    deleted = await other_api.query(DELETE_FLAG, {"key": "acme-flag"})

    # then it is not there for globex, and acme's flag is untouched
    assert read["featureFlag"] is None
    assert listed["featureFlags"]["totalCount"] == 0
    assert listed["featureFlags"]["edges"] == []
    assert _codes(updated["updateFeatureFlag"]) == [("NOT_FOUND", ["key"])]
    assert _codes(deleted["deleteFeatureFlag"]) == [("NOT_FOUND", ["key"])]
    assert (await _flag(api, "acme-flag") or {})["description"] == "acme's"


async def test_two_sites_may_use_the_same_key(api: Api, other_api: Api) -> None:
    # when both sites create the same key
    ours = await _create(api, "dark-mode", enabled=True)
    theirs = await _create(other_api, "dark-mode", enabled=False)

    # then each has its own flag
    assert ours["id"] != theirs["id"]
    assert (await _flag(api, "dark-mode") or {})["enabled"] is True
    assert (await _flag(other_api, "dark-mode") or {})["enabled"] is False


async def test_another_sites_segment_is_not_found_as_a_target(api: Api, other_api: Api) -> None:
    # given a segment of acme, and a flag of globex targeting globex's own segment
    acme_segment = await segment(api, "Acme VIP")
    globex_segment = await segment(other_api, "Globex VIP")
    await _create(other_api, "g", segmentIds=[globex_segment["id"]])

    # when globex creates a flag targeting acme's segment, and retargets its own to it
    created = await other_api.query(
        CREATE_FLAG, {"input": {"key": "steal", "segmentIds": [acme_segment["id"]]}}
    )
    updated = await other_api.query(
        UPDATE_FLAG, {"key": "g", "input": {"segmentIds": [acme_segment["id"]]}}
    )

    # then both are NOT_FOUND exactly as an id that names nothing, and nothing changed
    assert _codes(created["createFeatureFlag"]) == [("NOT_FOUND", ["input", "segmentIds"])]
    assert _codes(updated["updateFeatureFlag"]) == [("NOT_FOUND", ["input", "segmentIds"])]
    assert await _flag(other_api, "steal") is None
    assert [s["name"] for s in (await _flag(other_api, "g") or {})["segments"]] == ["Globex VIP"]
    assert (await api.query(SEGMENT_FLAGS, {"id": acme_segment["id"]}))["segment"][
        "featureFlags"
    ] == []


# ------------------------------------------------------------------ query-count guard

SEGMENTS_WITH_FLAGS = """
{
  segments(first: 50) { edges { node { name featureFlags { key segments { name } } } } }
  featureFlags(first: 50) { edges { node { key segments { name featureFlags { key } } } } }
}
"""


async def _statements_for(api: Api, how_many: int) -> tuple[int, dict[str, Any]]:
    ids = [(await segment(api, f"s{i:02}"))["id"] for i in range(how_many)]
    for i in range(how_many):
        await _create(api, f"f{i:02}", segmentIds=ids[: i + 1])
    with count_statements() as statements:
        data = await api.query(SEGMENTS_WITH_FLAGS)
    listing = [s for s in statements if "api_keys" not in s and '"sites"' not in s]
    return len(listing), data


async def test_flags_and_segments_resolve_in_the_same_statements_for_2_and_8(
    api: Api, other_api: Api
) -> None:
    # given a site with 2 segments and 2 flags, another with 8 and 8 (flag i targets i+1)
    # when each lists segments with their flags, and flags with their segments
    few, few_data = await _statements_for(api, 2)
    many, many_data = await _statements_for(other_api, 8)

    # then the answers are right
    nodes = [e["node"] for e in many_data["featureFlags"]["edges"]]
    assert [len(n["segments"]) for n in nodes] == list(range(1, 9))
    first_segment = many_data["segments"]["edges"][0]["node"]
    assert [f["key"] for f in first_segment["featureFlags"]] == [f"f{i:02}" for i in range(8)]
    assert few_data["featureFlags"]["edges"][0]["node"]["segments"] == [
        {"name": "s00", "featureFlags": [{"key": "f00"}, {"key": "f01"}]}
    ]

    # and the number of SQL statements does not grow with them
    assert few == many, f"{few} statements for 2, {many} for 8"
