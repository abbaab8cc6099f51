"""Personas over GraphQL: create, read, list, merge update, delete, attach and detach
segments with their options, the members of every attached segment (listed, company and
rule members, exclusions, archived segments), audit events, roles, tenancy, and a fixed
number of SQL statements for a page of personas with their segments and options."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.models import Role
from tests.factories import Api, companies, count_statements, members, segment
from tests.personas.support import (
    ATTACH,
    CREATE_PERSONA,
    DELETE_OPTION,
    DELETE_PERSONA,
    DETACH,
    PERSONA,
    PERSONA_MEMBERS,
    PERSONAS,
    UPDATE_PERSONA,
    attach,
    codes,
    events,
    member_ids,
    option,
    persona,
)

DELETE_SEGMENT = """
mutation($id: ID!) { deleteSegment(id: $id) { deletedId userErrors { field message code } } }
"""

ARCHIVE = """
mutation($id: ID!) { archiveSegment(id: $id) { segment { status } userErrors { code } } }
"""

RESTORE = """
mutation($id: ID!) { restoreSegment(id: $id) { segment { status } userErrors { code } } }
"""

EXCLUDE = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added userErrors { code } }
}
"""

SEGMENT_PERSONAS = """
query($id: ID!) { segment(id: $id) { personas { name } } }
"""


async def _persona(api: Api, persona_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(PERSONA, {"id": persona_id}))["persona"]
    return found


# ------------------------------------------------------------------ CRUD


async def test_a_persona_is_created_and_read_back(api: Api) -> None:
    # when a persona is created
    created = await persona(api, "EU enterprise admin", description="Buys for the team")

    # then it reads back by id, with no segment and no member
    read = await _persona(api, created["id"])
    assert read == created
    assert read["name"] == "EU enterprise admin"
    assert read["description"] == "Buys for the team"
    assert read["segments"] == []
    assert read["memberCount"] == 0


async def test_names_are_unique_per_site(api: Api, other_api: Api) -> None:
    await persona(api, "Admin")
    again = await api.query(CREATE_PERSONA, {"input": {"name": " Admin "}})
    theirs = await persona(other_api, "Admin")
    assert codes(again["createPersona"]) == [("ALREADY_EXISTS", ["input", "name"])]
    assert theirs["name"] == "Admin"


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"name": ""}, ["input", "name"]),
        ({"name": "n" * 201}, ["input", "name"]),
        ({"name": "ok", "description": "d" * 2001}, ["input", "description"]),
    ],
    ids=["empty-name", "long-name", "long-description"],
)
async def test_bad_input_is_invalid_and_creates_nothing(
    api: Api, fields: dict[str, object], path: list[str]
) -> None:
    data = await api.query(CREATE_PERSONA, {"input": fields})
    assert codes(data["createPersona"]) == [("INVALID", path)]
    assert (await api.query(PERSONAS))["personas"]["totalCount"] == 0


async def test_update_merges_and_refuses_taken_names(api: Api) -> None:
    # given two personas
    admin = await persona(api, "Admin", description="first")
    await persona(api, "Buyer")

    # when one is renamed, its description cleared, then renamed to the other's name
    renamed = await api.query(UPDATE_PERSONA, {"id": admin["id"], "input": {"name": "Owner"}})
    cleared = await api.query(UPDATE_PERSONA, {"id": admin["id"], "input": {"description": None}})
    taken = await api.query(UPDATE_PERSONA, {"id": admin["id"], "input": {"name": "Buyer"}})
    null_name = await api.query(UPDATE_PERSONA, {"id": admin["id"], "input": {"name": None}})
    unknown = await api.query(UPDATE_PERSONA, {"id": "424242", "input": {"name": "x"}})

    # then the merge kept what was not sent, and the mistakes changed nothing
    assert renamed["updatePersona"]["persona"]["name"] == "Owner"
    assert renamed["updatePersona"]["persona"]["description"] == "first"
    assert cleared["updatePersona"]["persona"]["description"] is None
    assert codes(taken["updatePersona"]) == [("ALREADY_EXISTS", ["input", "name"])]
    assert codes(null_name["updatePersona"]) == [("INVALID", ["input", "name"])]
    assert codes(unknown["updatePersona"]) == [("NOT_FOUND", ["id"])]
    assert (await _persona(api, admin["id"]) or {})["name"] == "Owner"


async def test_delete_removes_the_persona_and_keeps_its_segments(api: Api) -> None:
    admins = await segment(api, "Admins")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], admins["id"])

    deleted = await api.query(DELETE_PERSONA, {"id": admin["id"]})
    again = await api.query(DELETE_PERSONA, {"id": admin["id"]})

    assert deleted["deletePersona"] == {"deletedId": admin["id"], "userErrors": []}
    assert codes(again["deletePersona"]) == [("NOT_FOUND", ["id"])]
    assert await _persona(api, admin["id"]) is None
    assert (await api.query(SEGMENT_PERSONAS, {"id": admins["id"]}))["segment"]["personas"] == []
    assert [e["kind"] for e in await events(api, admins["id"])][:2] == [
        "PERSONA_DETACHED",
        "PERSONA_ATTACHED",
    ]


async def test_personas_page_in_name_order_with_search(api: Api) -> None:
    # given five personas
    for name in ("Eve", "Bob", "Dan", "Ann", "Cat"):
        await persona(api, name, description="vip" if name in ("Bob", "Eve") else None)

    # when they are read two at a time, and searched
    first = (await api.query(PERSONAS, {"first": 2}))["personas"]
    after = first["pageInfo"]["endCursor"]
    second = (await api.query(PERSONAS, {"first": 2, "after": after}))["personas"]
    found = (await api.query(PERSONAS, {"search": "VIP"}))["personas"]

    # then pages follow name order, and search looks at names and descriptions
    assert [e["node"]["name"] for e in first["edges"]] == ["Ann", "Bob"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["totalCount"] == 5
    assert [e["node"]["name"] for e in second["edges"]] == ["Cat", "Dan"]
    assert second["pageInfo"]["hasPreviousPage"] is True
    assert [e["node"]["name"] for e in found["edges"]] == ["Bob", "Eve"]
    assert found["totalCount"] == 2


# ------------------------------------------------------------------ attach and detach


async def test_attach_picks_options_and_attaching_again_replaces_them(api: Api) -> None:
    # given Region with three options, Admins with none, and a persona
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU", position=1)
    us = await option(api, region["id"], "US", position=2)
    apac = await option(api, region["id"], "APAC", position=0)
    admins = await segment(api, "Admins")
    admin = await persona(api, "EU admin")

    # when Region is attached with EU and APAC, Admins with nothing, then Region again with US
    first = await attach(api, admin["id"], region["id"], [eu["id"], apac["id"]])
    await attach(api, admin["id"], admins["id"])
    then = await attach(api, admin["id"], region["id"], [us["id"]])

    # then the options are listed in position order, and the second attach replaced them
    assert first["userErrors"] == []
    assert first["persona"]["segments"] == [
        {
            "segment": {"id": region["id"], "name": "Region"},
            "options": [
                {"id": apac["id"], "label": "APAC"},
                {"id": eu["id"], "label": "EU"},
            ],
        },
    ]
    assert then["persona"]["segments"] == [
        {"segment": {"id": admins["id"], "name": "Admins"}, "options": []},
        {
            "segment": {"id": region["id"], "name": "Region"},
            "options": [
                {"id": us["id"], "label": "US"},
            ],
        },
    ]
    personas_of = await api.query(SEGMENT_PERSONAS, {"id": region["id"]})
    assert personas_of["segment"]["personas"] == [{"name": "EU admin"}]


async def test_an_option_of_another_segment_is_invalid_and_changes_nothing(api: Api) -> None:
    region = await segment(api, "Region")
    size = await segment(api, "Company size")
    big = await option(api, size["id"], "200+")
    admin = await persona(api, "Admin")

    wrong = await attach(api, admin["id"], region["id"], [big["id"]])
    unknown = await attach(api, admin["id"], region["id"], ["987654"])

    assert codes(wrong) == [("INVALID", ["input", "optionIds"])]
    assert "200+" in wrong["userErrors"][0]["message"]
    assert codes(unknown) == [("NOT_FOUND", ["input", "optionIds"])]
    assert (await _persona(api, admin["id"]) or {})["segments"] == []


async def test_attach_to_unknown_persona_or_segment_is_not_found(api: Api) -> None:
    region = await segment(api, "Region")
    admin = await persona(api, "Admin")
    no_persona = await attach(api, "555555", region["id"])
    no_segment = await attach(api, admin["id"], "555555")
    assert codes(no_persona) == [("NOT_FOUND", ["input", "personaId"])]
    assert codes(no_segment) == [("NOT_FOUND", ["input", "segmentId"])]


async def test_detach_removes_the_segment_and_its_picks(api: Api) -> None:
    # given a persona with two segments
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    admins = await segment(api, "Admins")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], region["id"], [eu["id"]])
    await attach(api, admin["id"], admins["id"])

    # when Region is detached, then detached again
    data = await api.query(DETACH, {"persona": admin["id"], "segment": region["id"]})
    again = await api.query(DETACH, {"persona": admin["id"], "segment": region["id"]})
    unknown = await api.query(DETACH, {"persona": "777777", "segment": region["id"]})

    # then only Admins is left; detaching what is not attached is NOT_FOUND
    segments = data["detachSegmentFromPersona"]["persona"]["segments"]
    assert [s["segment"]["name"] for s in segments] == ["Admins"]
    assert codes(again["detachSegmentFromPersona"]) == [("NOT_FOUND", ["segmentId"])]
    assert codes(unknown["detachSegmentFromPersona"]) == [("NOT_FOUND", ["personaId"])]
    # and re-attaching starts with no option picked
    back = await attach(api, admin["id"], region["id"])
    assert [s["options"] for s in back["persona"]["segments"]] == [[], []]


async def test_attach_and_detach_are_audited_on_the_segment(api: Api) -> None:
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    us = await option(api, region["id"], "US")
    admin = await persona(api, "Admin")

    await attach(api, admin["id"], region["id"], [eu["id"]])
    await attach(api, admin["id"], region["id"], [us["id"]])
    await api.query(DETACH, {"persona": admin["id"], "segment": region["id"]})

    trail = [e for e in await events(api, region["id"]) if e["kind"].startswith("PERSONA")]
    assert [e["kind"] for e in trail] == [
        "PERSONA_DETACHED",
        "PERSONA_ATTACHED",
        "PERSONA_ATTACHED",
    ]
    assert trail[2]["changes"] == {
        "persona": {"before": None, "after": "Admin"},
        "options": {"before": None, "after": ["EU"]},
    }
    assert trail[1]["changes"]["options"] == {"before": ["EU"], "after": ["US"]}
    assert trail[0]["changes"] == {"persona": {"before": "Admin", "after": None}}


async def test_deleting_an_option_or_a_detached_segment_lets_go_of_it(api: Api) -> None:
    # given a persona with Region (EU, US picked) and Admins
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    us = await option(api, region["id"], "US")
    admins = await segment(api, "Admins")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], region["id"], [eu["id"], us["id"]])
    await attach(api, admin["id"], admins["id"])

    # when the option EU is deleted, then the segment Admins detached and deleted
    await api.query(DELETE_OPTION, {"id": eu["id"]})
    await api.query(DETACH, {"persona": admin["id"], "segment": admins["id"]})
    deleted = await api.query(DELETE_SEGMENT, {"id": admins["id"]})

    # then the persona keeps Region with US only
    assert deleted["deleteSegment"]["userErrors"] == []
    assert (await _persona(api, admin["id"]) or {})["segments"] == [
        {
            "segment": {"id": region["id"], "name": "Region"},
            "options": [
                {"id": us["id"], "label": "US"},
            ],
        },
    ]


async def test_deleting_a_segment_removes_its_options(api: Api) -> None:
    # given a segment with an option that a persona picked, then detached
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], region["id"], [eu["id"]])
    await api.query(DETACH, {"persona": admin["id"], "segment": region["id"]})

    # when the segment is deleted
    deleted = await api.query(DELETE_SEGMENT, {"id": region["id"]})
    assert deleted["deleteSegment"]["userErrors"] == []

    # then its option is gone too: it names nothing any more
    other = await segment(api, "Other")
    picked = await attach(api, admin["id"], other["id"], [eu["id"]])
    assert codes(picked) == [("NOT_FOUND", ["input", "optionIds"])]


# ------------------------------------------------------------------ members


async def _intersection_site(api: Api) -> dict[str, str]:
    """m1..m6: m1, m2 listed in Listed; m2, m3 (acme) through Company; gold: m2, m4, m5."""
    await companies(api, "acme")
    await members(api, "m1", "m6")
    await members(api, "m2", companyId="acme", attributes={"tier": "gold"})
    await members(api, "m3", companyId="acme")
    await members(api, "m4", "m5", attributes={"tier": "gold"})
    listed = await segment(api, "Listed", memberIds=["m1", "m2", "m3", "m4"])
    company = await segment(api, "Company", companyIds=["acme"], memberIds=["m4"])
    gold = await segment(api, "Gold", type="DYNAMIC", rule="attributes.tier = 'gold'")
    return {"listed": listed["id"], "company": company["id"], "gold": gold["id"]}


async def test_members_are_those_of_every_attached_segment(api: Api) -> None:
    # given listed, company and rule segments
    ids = await _intersection_site(api)
    admin = await persona(api, "Admin")

    # when segments are attached one by one
    await attach(api, admin["id"], ids["listed"])
    only_listed = await member_ids(api, admin["id"])
    await attach(api, admin["id"], ids["company"])
    listed_and_company = await member_ids(api, admin["id"])
    await attach(api, admin["id"], ids["gold"])
    all_three = await member_ids(api, admin["id"])

    # then the members narrow to those in every attached segment
    assert only_listed == (4, ["m1", "m2", "m3", "m4"])
    assert listed_and_company == (3, ["m2", "m3", "m4"])
    assert all_three == (2, ["m2", "m4"])


async def test_an_excluded_member_is_not_a_member_of_the_persona(api: Api) -> None:
    ids = await _intersection_site(api)
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], ids["listed"])
    await attach(api, admin["id"], ids["gold"])

    excluded = await api.query(
        EXCLUDE, {"input": {"segmentId": ids["gold"], "memberIds": ["m4"], "mode": "ADD"}}
    )

    assert excluded["updateSegmentExclusions"]["added"] == 1
    assert await member_ids(api, admin["id"]) == (1, ["m2"])


async def test_an_archived_segment_keeps_narrowing_the_persona(api: Api) -> None:
    # given a persona of Listed and Company
    ids = await _intersection_site(api)
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], ids["listed"])
    await attach(api, admin["id"], ids["company"])
    before = await member_ids(api, admin["id"])

    # when Company is archived, then restored
    await api.query(ARCHIVE, {"id": ids["company"]})
    during = await member_ids(api, admin["id"])
    still_attached = (await _persona(api, admin["id"]) or {})["segments"]
    await api.query(RESTORE, {"id": ids["company"]})
    after = await member_ids(api, admin["id"])

    # then its attachment is kept and the persona's members never change
    assert before == during == after == (3, ["m2", "m3", "m4"])
    assert [s["segment"]["name"] for s in still_attached] == ["Company", "Listed"]


async def test_members_page_through_with_cursors(api: Api) -> None:
    await members(api, *[f"u{i}" for i in range(5)])
    everyone = await segment(api, "Everyone", memberIds=[f"u{i}" for i in range(5)])
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], everyone["id"])

    seen: list[str] = []
    after = None
    pages = 0
    while True:
        data = await api.query(PERSONA_MEMBERS, {"id": admin["id"], "first": 2, "after": after})
        connection = data["persona"]["members"]
        seen += [e["node"]["id"] for e in connection["edges"]]
        pages += 1
        assert connection["totalCount"] == 5
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]

    assert seen == [f"u{i}" for i in range(5)]
    assert pages == 3


async def test_a_persona_without_segments_has_no_members(api: Api) -> None:
    await members(api, "m1")
    admin = await persona(api, "Admin")
    assert await member_ids(api, admin["id"]) == (0, [])


# ------------------------------------------------------------------ roles and tenancy


async def test_a_reader_reads_personas_and_a_writer_changes_them(api: Api) -> None:
    region = await segment(api, "Region")
    admin = await persona(api, "Admin")
    reader = await api.with_role(Role.READER)
    writer = await api.with_role(Role.WRITER)

    read = await reader.query(PERSONA, {"id": admin["id"]})
    listed = await reader.query(PERSONAS)
    attempts = [
        await reader.raw(CREATE_PERSONA, {"input": {"name": "x"}}),
        await reader.raw(UPDATE_PERSONA, {"id": admin["id"], "input": {"name": "x"}}),
        await reader.raw(DELETE_PERSONA, {"id": admin["id"]}),
        await reader.raw(
            ATTACH,
            {"input": {"personaId": admin["id"], "segmentId": region["id"], "optionIds": []}},
        ),
        await reader.raw(DETACH, {"persona": admin["id"], "segment": region["id"]}),
    ]

    assert read["persona"]["name"] == "Admin"
    assert listed["personas"]["totalCount"] == 1
    for body in attempts:
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert (await _persona(api, admin["id"]) or {})["name"] == "Admin"
    assert (await attach(writer, admin["id"], region["id"]))["userErrors"] == []
    assert (await persona(writer, "Buyer"))["name"] == "Buyer"


async def test_another_sites_personas_segments_and_options_are_not_found(
    api: Api, other_api: Api
) -> None:
    # given acme's persona, segment and option, and globex's own persona and segment
    region = await segment(api, "Region")
    eu = await option(api, region["id"], "EU")
    admin = await persona(api, "Admin")
    await attach(api, admin["id"], region["id"], [eu["id"]])
    theirs = await persona(other_api, "Theirs")
    their_segment = await segment(other_api, "Their segment")

    # when globex reads, lists, changes acme's, and uses acme's segment and option
    read = await other_api.query(PERSONA, {"id": admin["id"]})
    listed = await other_api.query(PERSONAS)
    updated = await other_api.query(UPDATE_PERSONA, {"id": admin["id"], "input": {"name": "x"}})
    deleted = await other_api.query(DELETE_PERSONA, {"id": admin["id"]})
    detached = await other_api.query(DETACH, {"persona": admin["id"], "segment": region["id"]})
    attach_theirs_to_ours = await attach(other_api, admin["id"], their_segment["id"])
    attach_our_segment = await attach(other_api, theirs["id"], region["id"])
    pick_our_option = await attach(other_api, theirs["id"], their_segment["id"], [eu["id"]])

    # then all of it is null or NOT_FOUND, and acme's persona is untouched
    assert read["persona"] is None
    assert [e["node"]["name"] for e in listed["personas"]["edges"]] == ["Theirs"]
    assert codes(updated["updatePersona"]) == [("NOT_FOUND", ["id"])]
    assert codes(deleted["deletePersona"]) == [("NOT_FOUND", ["id"])]
    assert codes(detached["detachSegmentFromPersona"]) == [("NOT_FOUND", ["personaId"])]
    assert codes(attach_theirs_to_ours) == [("NOT_FOUND", ["input", "personaId"])]
    assert codes(attach_our_segment) == [("NOT_FOUND", ["input", "segmentId"])]
    assert codes(pick_our_option) == [("NOT_FOUND", ["input", "optionIds"])]
    mine = await _persona(api, admin["id"]) or {}
    assert mine["name"] == "Admin"
    assert [s["options"] for s in mine["segments"]] == [[{"id": eu["id"], "label": "EU"}]]


# ------------------------------------------------------------------ query-count guard

PERSONAS_WITH_SEGMENTS = """
{
  personas(first: 50) {
    totalCount
    edges {
      node { name memberCount segments { segment { name options { label } } options { label } } }
    }
  }
}
"""


async def _statements_for(api: Api, how_many: int) -> tuple[int, list[dict[str, Any]]]:
    await members(api, "m1", "m2")
    segments = [(await segment(api, f"s{i:02}", memberIds=["m1"]))["id"] for i in range(how_many)]
    options = [(await option(api, s, "opt"))["id"] for s in segments]
    for i in range(how_many):
        created = await persona(api, f"p{i:02}")
        for j in range(i + 1):
            await attach(api, created["id"], segments[j], [options[j]])
    with count_statements() as statements:
        data = await api.query(PERSONAS_WITH_SEGMENTS)
    # verifying the key costs a statement or two unless it is cached, whatever the listing
    listing = [s for s in statements if "api_keys" not in s and '"sites"' not in s]
    return len(listing), [e["node"] for e in data["personas"]["edges"]]


async def test_personas_with_segments_and_options_take_the_same_statements_for_2_and_7(
    api: Api, other_api: Api
) -> None:
    # given a site with 2 personas and another with 7 (persona i has segments 0..i, each
    # with its option picked)
    # when each lists its personas with their segments, options and member counts
    few, few_nodes = await _statements_for(api, 2)
    many, many_nodes = await _statements_for(other_api, 7)

    # then the answers are right
    assert [len(n["segments"]) for n in many_nodes] == list(range(1, 8))
    assert all(n["memberCount"] == 1 for n in many_nodes)
    assert few_nodes[1]["segments"][1] == {
        "segment": {"name": "s01", "options": [{"label": "opt"}]},
        "options": [{"label": "opt"}],
    }

    # and the number of SQL statements does not grow with them
    assert few > 0
    assert few == many, f"{few} statements for 2, {many} for 7"
