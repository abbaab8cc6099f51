"""Rules over GraphQL: validateRule, ruleFields, eligibleMembers, includeEligibleMembers,
freezeSegment, and DYNAMIC membership in listings and counts."""

from __future__ import annotations

from typing import Any

from app.auth.models import Role
from tests.factories import Api, companies, members, segment

VALIDATE = """
query($rule: String!, $segmentId: ID) {
  validateRule(rule: $rule, segmentId: $segmentId) {
    valid normalized fields problems { message line column }
  }
}
"""
RULE_FIELDS = "query { ruleFields { path type examples } }"
ELIGIBLE = """
query($id: ID!, $after: String) {
  segment(id: $id) {
    memberCount
    eligibleMembers(first: 2, after: $after) {
      totalCount edges { node { id } } pageInfo { hasNextPage endCursor }
    }
  }
}
"""
INCLUDE = """
mutation($id: ID!) {
  includeEligibleMembers(segmentId: $id) {
    added removed unchanged
    segment {
      memberCount
      members { edges { node { id } source } }
      events { edges { node { kind count sampleIds } } }
    }
    userErrors { field code message }
  }
}
"""
FREEZE = """
mutation($id: ID!, $name: String!) {
  freezeSegment(id: $id, name: $name) {
    segment {
      id name type rule memberCount
      members(first: 50) { edges { node { id } source } }
      events { edges { node { kind count } } }
    }
    userErrors { field code message }
  }
}
"""
SEGMENT_MEMBERS = """
query($id: ID!, $search: String, $after: String) {
  segment(id: $id) {
    memberCount
    members(first: 2, search: $search, after: $after) {
      totalCount edges { node { id } source } pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def _validate(api: Api, rule: str, segment_id: str | None = None) -> dict[str, Any]:
    data = await api.query(VALIDATE, {"rule": rule, "segmentId": segment_id})
    found: dict[str, Any] = data["validateRule"]
    return found


async def test_validate_rule_gives_normalized_text_and_fields(api: Api) -> None:
    found = await _validate(
        api, "attributes.tier in ('gold','platinum') and  company.plan = 'pro' -- note"
    )
    assert found == {
        "valid": True,
        "normalized": "attributes.tier IN ('gold', 'platinum') AND company.plan = 'pro'",
        "fields": ["attributes.tier", "company.plan"],
        "problems": [],
    }


async def test_validate_rule_reports_every_problem_with_its_position(api: Api) -> None:
    # given a rule with an unknown field on line 1 and a bad percent() on line 2
    found = await _validate(api, "country = 'NL'\nAND percent('x')")
    # then both are reported, in order, with line and column
    assert found["valid"] is False
    assert found["normalized"] is None
    positions = [(p["line"], p["column"]) for p in found["problems"]]
    assert positions == [(1, 1), (2, 13)]
    assert "country" in found["problems"][0]["message"]
    assert "percent" in found["problems"][1]["message"]


async def test_validate_rule_names_unknown_segments_and_cycles(api: Api) -> None:
    # given a segment b whose rule names a
    await segment(api, "a")
    b = await segment(api, "b", type="DYNAMIC", rule="in_segment('a')")
    a_id = (await api.query('{ segmentByName(name: "a") { id } }'))["segmentByName"]["id"]
    # when a rule naming b is checked as a's, and one naming a missing segment
    cycle = await _validate(api, "attributes.x = 1 OR in_segment('b')", a_id)
    unknown = await _validate(api, "in_segment('nope')")
    fine = await _validate(api, "in_segment('b')")
    # then the cycle is a problem naming the path, at the in_segment argument
    assert cycle["valid"] is False
    assert cycle["problems"] == [
        {"message": "the rule makes a cycle: a -> b -> a", "line": 1, "column": 32}
    ]
    assert unknown["problems"] == [
        {"message": "in_segment names no segment: 'nope'", "line": 1, "column": 12}
    ]
    assert fine["valid"] is True and b["type"] == "DYNAMIC"


async def test_validate_rule_refuses_an_oversized_rule(api: Api) -> None:
    found = await _validate(api, "attributes.x = 1 AND " * 700 + "attributes.x = 1")
    assert found["valid"] is False
    assert "limit" in found["problems"][0]["message"]


async def test_validate_rule_with_another_sites_segment_is_not_found(
    api: Api, other_api: Api
) -> None:
    theirs = await segment(other_api, "theirs")
    body = await api.raw(VALIDATE, {"rule": "attributes.x = 1", "segmentId": theirs["id"]})
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_rule_fields_lists_fixed_fields_and_attribute_paths_of_this_site(
    api: Api, other_api: Api
) -> None:
    # given members and companies with attributes here, and other keys on another site
    await companies(api, "acme", plan="enterprise", attributes={"region": "eu"})
    await members(api, "m1", attributes={"tier": "gold", "points": 10, "prefs": {"news": True}})
    await members(api, "m2", attributes={"tier": "silver", "points": 2.5, "tags": ["a"]})
    await members(other_api, "x", attributes={"secret_key": "hidden"})
    # when the fields are listed
    found = {f["path"]: f for f in (await api.query(RULE_FIELDS))["ruleFields"]}
    # then fixed fields come with types, attributes with their type and examples
    assert found["email"] == {"path": "email", "type": "string", "examples": []}
    assert found["created_at"]["type"] == "timestamp"
    assert found["company.plan"]["examples"] == ["enterprise"]
    assert found["attributes.tier"]["type"] == "string"
    assert sorted(found["attributes.tier"]["examples"]) == ["gold", "silver"]
    assert found["attributes.points"]["type"] == "number"
    assert found["attributes.prefs.news"] == {
        "path": "attributes.prefs.news",
        "type": "boolean",
        "examples": ["true"],
    }
    assert found["attributes.tags"]["type"] == "array"
    assert found["company.attributes.region"]["examples"] == ["eu"]
    # and nothing of the other site
    assert not any("secret_key" in path for path in found)


async def test_dynamic_segment_members_count_search_and_pages(api: Api) -> None:
    # given gold members by rule, one also listed, one excluded
    await members(api, "g1", "g2", "g3", "g4", attributes={"tier": "gold"})
    await members(api, "s1", attributes={"tier": "silver"})
    seg = await segment(
        api, "Gold", type="DYNAMIC", rule="attributes.tier = 'gold'", memberIds=["s1", "g1"]
    )
    await api.query(
        "mutation($i: UpdateSegmentExclusionsInput!) { updateSegmentExclusions(input: $i)"
        " { added } }",
        {"i": {"segmentId": seg["id"], "memberIds": ["g4"], "mode": "ADD"}},
    )
    # when paged through, and searched
    first = (await api.query(SEGMENT_MEMBERS, {"id": seg["id"]}))["segment"]
    after = first["members"]["pageInfo"]["endCursor"]
    second = (await api.query(SEGMENT_MEMBERS, {"id": seg["id"], "after": after}))["segment"]
    searched = (await api.query(SEGMENT_MEMBERS, {"id": seg["id"], "search": "G2"}))["segment"]
    # then the rule's matches are members (RULE), lists stay MANUAL, the excluded is out
    edges = first["members"]["edges"] + second["members"]["edges"]
    assert {e["node"]["id"]: e["source"] for e in edges} == {
        "g1": "MANUAL",
        "g2": "RULE",
        "g3": "RULE",
        "s1": "MANUAL",
    }
    assert first["memberCount"] == first["members"]["totalCount"] == 4
    assert second["members"]["pageInfo"]["hasNextPage"] is False
    assert [e["node"]["id"] for e in searched["members"]["edges"]] == ["g2"]
    assert searched["members"]["totalCount"] == 1


async def test_rule_on_company_fields_makes_members(api: Api) -> None:
    await companies(api, "big", plan="enterprise")
    await companies(api, "small", plan="free")
    await members(api, "b1", companyId="big")
    await members(api, "s1", companyId="small")
    await members(api, "loner")
    seg = await segment(api, "Enterprise", type="DYNAMIC", rule="company.plan = 'enterprise'")
    data = (await api.query(SEGMENT_MEMBERS, {"id": seg["id"]}))["segment"]
    assert [e["node"]["id"] for e in data["members"]["edges"]] == ["b1"]
    assert data["memberCount"] == 1


async def test_eligible_members_are_rule_matches_not_yet_members(api: Api) -> None:
    # given a STATIC segment whose rule matches four, one already listed, one excluded
    await members(api, "a", "b", "c", "d", attributes={"points": 2000})
    await members(api, "poor", attributes={"points": 1})
    seg = await segment(api, "Rich", rule="attributes.points >= 1000", memberIds=["a"])
    await api.query(
        "mutation($i: UpdateSegmentExclusionsInput!) { updateSegmentExclusions(input: $i)"
        " { added } }",
        {"i": {"segmentId": seg["id"], "memberIds": ["d"], "mode": "ADD"}},
    )
    # when the eligible members are paged through
    first = (await api.query(ELIGIBLE, {"id": seg["id"]}))["segment"]
    end = first["eligibleMembers"]["pageInfo"]["endCursor"]
    rest = (await api.query(ELIGIBLE, {"id": seg["id"], "after": end}))["segment"]
    # then they are the matches that are neither members nor excluded
    ids = [e["node"]["id"] for e in first["eligibleMembers"]["edges"]]
    ids += [e["node"]["id"] for e in rest["eligibleMembers"]["edges"]]
    assert ids == ["b", "c"]
    assert first["eligibleMembers"]["totalCount"] == 2
    assert first["memberCount"] == 1  # a STATIC rule makes nobody a member by itself


async def test_include_eligible_members_lists_them_with_an_event(api: Api) -> None:
    # given a STATIC segment with two eligible members
    await members(api, "a", "b", "c", attributes={"points": 2000})
    seg = await segment(api, "Rich", rule="attributes.points >= 1000", memberIds=["a"])
    # when they are included
    data = (await api.query(INCLUDE, {"id": seg["id"]}))["includeEligibleMembers"]
    again = (await api.query(INCLUDE, {"id": seg["id"]}))["includeEligibleMembers"]
    # then they are listed with source RULE, audited, and a second run adds nobody
    assert data["userErrors"] == []
    assert data["added"] == 2
    assert {e["node"]["id"]: e["source"] for e in data["segment"]["members"]["edges"]} == {
        "a": "MANUAL",
        "b": "RULE",
        "c": "RULE",
    }
    assert data["segment"]["events"]["edges"][0]["node"] == {
        "kind": "MEMBERS_ADDED",
        "count": 2,
        "sampleIds": ["b", "c"],
    }
    assert again["added"] == 0
    eligible = (await api.query(ELIGIBLE, {"id": seg["id"]}))["segment"]["eligibleMembers"]
    assert eligible["totalCount"] == 0


async def test_include_eligible_members_revives_an_expired_listing(api: Api) -> None:
    # given an eligible member whose listing expired
    from datetime import UTC, datetime, timedelta

    from app.db import execute

    await members(api, "a", attributes={"points": 2000})
    seg = await segment(api, "Rich", rule="attributes.points >= 1000", memberIds=["a"])
    await execute(
        "UPDATE segment_members SET expires_at = $1", [datetime.now(UTC) - timedelta(days=1)]
    )
    # as if that expiry had passed since the site's expiries were last recorded
    await execute(
        "UPDATE membership_sites SET expired_to = $1", [datetime.now(UTC) - timedelta(days=2)]
    )
    # when included
    data = (await api.query(INCLUDE, {"id": seg["id"]}))["includeEligibleMembers"]
    # then it is a member again, by rule
    assert data["added"] == 1
    assert data["segment"]["memberCount"] == 1
    assert data["segment"]["members"]["edges"][0]["source"] == "RULE"


async def test_include_eligible_members_refusals(api: Api, other_api: Api) -> None:
    # given a segment with no rule, a DYNAMIC one, and one of another site
    plain = await segment(api, "Plain")
    dynamic = await segment(api, "Dyn", type="DYNAMIC", rule="attributes.x = 1")
    theirs = await segment(other_api, "Theirs", rule="attributes.x = 1")
    reader = await api.with_role(Role.READER)
    # when each is asked to include its eligible members
    codes = {}
    for name, sid in (("plain", plain["id"]), ("dynamic", dynamic["id"]), ("theirs", theirs["id"])):
        codes[name] = (await api.query(INCLUDE, {"id": sid}))["includeEligibleMembers"][
            "userErrors"
        ][0]["code"]
    denied = await reader.raw(INCLUDE, {"id": plain["id"]})
    # then each is refused with its reason
    assert codes == {"plain": "INVALID", "dynamic": "INVALID", "theirs": "NOT_FOUND"}
    assert denied["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_freeze_segment_copies_todays_effective_members(api: Api) -> None:
    # given a DYNAMIC segment with members by rule, list and company, and one excluded
    await companies(api, "acme")
    await members(api, "g1", "g2", attributes={"tier": "gold"})
    await members(api, "listed")
    await members(api, "employee", companyId="acme")
    seg = await segment(
        api,
        "Gold",
        type="DYNAMIC",
        rule="attributes.tier = 'gold'",
        memberIds=["listed"],
        companyIds=["acme"],
    )
    await api.query(
        "mutation($i: UpdateSegmentExclusionsInput!) { updateSegmentExclusions(input: $i)"
        " { added } }",
        {"i": {"segmentId": seg["id"], "memberIds": ["g2"], "mode": "ADD"}},
    )
    # when frozen, and the rule's matches change afterwards
    frozen = (await api.query(FREEZE, {"id": seg["id"], "name": "Gold on Monday"}))["freezeSegment"]
    await members(api, "g3", attributes={"tier": "gold"})
    copy = (await api.query(SEGMENT_MEMBERS, {"id": frozen["segment"]["id"]}))["segment"]
    # then the copy is STATIC, lists exactly today's members, and does not move
    assert frozen["userErrors"] == []
    made = frozen["segment"]
    assert (made["name"], made["type"], made["rule"]) == ("Gold on Monday", "STATIC", None)
    assert {e["node"]["id"]: e["source"] for e in made["members"]["edges"]} == {
        "g1": "RULE",
        "listed": "MANUAL",
        "employee": "MANUAL",
    }
    assert made["memberCount"] == copy["memberCount"] == 3
    assert [e["node"]["kind"] for e in made["events"]["edges"]] == ["MEMBERS_ADDED", "CREATED"]


async def test_freeze_segment_refusals(api: Api, other_api: Api) -> None:
    await segment(api, "Taken")
    mine = await segment(api, "Mine")
    theirs = await segment(other_api, "Theirs")
    taken = (await api.query(FREEZE, {"id": mine["id"], "name": "Taken"}))["freezeSegment"]
    foreign = (await api.query(FREEZE, {"id": theirs["id"], "name": "Copy"}))["freezeSegment"]
    assert taken["userErrors"][0]["code"] == "ALREADY_EXISTS"
    assert taken["userErrors"][0]["field"] == ["name"]
    assert foreign["userErrors"][0]["code"] == "NOT_FOUND"
    names = await api.query("{ segments { edges { node { name } } } }")
    assert [e["node"]["name"] for e in names["segments"]["edges"]] == ["Mine", "Taken"]
    their_names = await other_api.query("{ segments { totalCount } }")
    assert their_names["segments"]["totalCount"] == 1
