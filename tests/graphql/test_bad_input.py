"""Bad input, as a broken client or an attacker sends it: each class is refused at the edge
with a code (BAD_USER_INPUT, or a userError), never a 500 or a masked INTERNAL, with the
same limits on SQLite and PostgreSQL; a refused mutation writes nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import Api, members, segment

SEGMENT = "query($id: ID!) { segment(id: $id) { id name } }"
IS_MEMBER = "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
MEMBER = "query($id: ID!) { member(id: $id) { id } }"
FLAG = "query($key: String!) { featureFlag(key: $key) { key } }"
EVALUATE = "query($m: ID!, $keys: [String!]) { evaluateFlags(memberId: $m, keys: $keys) { key } }"
SEARCH_MEMBERS = "query($q: String!) { searchMembers(q: $q) { id } }"
MEMBERS_SEARCH = "query($q: String) { members(search: $q) { totalCount } }"
SEGMENTS_SEARCH = "query($q: String) { segments(search: $q) { totalCount } }"
MEMBERSHIPS_OF = "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId } }"
VALIDATE_RULE = "query($rule: String!) { validateRule(rule: $rule) { valid } }"
REVOKE_KEY = "mutation($id: ID!) { revokeApiKey(id: $id) { deletedId userErrors { code } } }"
EMAIL_CAMPAIGN = "query($id: ID!) { emailCampaign(id: $id) { id } }"
IMPORT_JOB = "query($id: ID!) { importJob(id: $id) { id } }"
UPSERT = """mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created userErrors { field message code } } }"""
CREATE = """mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id } userErrors { field message code } } }"""
MEMBER_COUNT = "query { members { totalCount } }"
SEGMENT_COUNT = "query { segments { totalCount } }"

NUL = "a\x00b"
SURROGATE = "a\ud800b"
BIG = 2**63


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


REFUSE = "BAD_USER_INPUT"
ANSWER = "answered"  # a plain answer (not found, invalid rule) is right too: no fault
# a field of a mutation's input: its service refuses it as a userError naming the field
USER_ERROR = "userErrors"

# (name, document, variables, what must come back, words the message must hold)
CASES: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("NUL in a segment id", SEGMENT, {"id": NUL}, REFUSE, "NUL"),
    ("NUL in a member id", MEMBER, {"id": NUL}, REFUSE, "NUL"),
    ("NUL in isMember", IS_MEMBER, {"s": "1", "m": NUL}, REFUSE, "NUL"),
    ("NUL in isMember segment", IS_MEMBER, {"s": NUL, "m": "m1"}, REFUSE, "NUL"),
    ("NUL in a flag key", FLAG, {"key": NUL}, REFUSE, "NUL"),
    ("NUL in flag keys", EVALUATE, {"m": "m1", "keys": [NUL]}, REFUSE, "NUL"),
    ("NUL in a search", SEARCH_MEMBERS, {"q": NUL}, REFUSE, "NUL"),
    ("NUL in a members search", MEMBERS_SEARCH, {"q": NUL}, REFUSE, "NUL"),
    ("NUL in a rule", VALIDATE_RULE, {"rule": f'email = "{NUL}"'}, REFUSE, "NUL"),
    ("NUL in a name", CREATE, {"input": {"name": NUL}}, REFUSE, "NUL"),
    (
        "NUL in an attribute",
        UPSERT,
        {"members": [{"id": "m1", "attributes": {"a": NUL}}]},
        REFUSE,
        "NUL",
    ),
    (
        "NUL in an attribute key",
        UPSERT,
        {"members": [{"id": "m1", "attributes": {NUL: 1}}]},
        REFUSE,
        "NUL",
    ),
    ("NUL in a member id upsert", UPSERT, {"members": [{"id": NUL}]}, REFUSE, "NUL"),
    ("surrogate in a member id", MEMBER, {"id": SURROGATE}, REFUSE, "surrogate"),
    ("surrogate in isMember", IS_MEMBER, {"s": "1", "m": SURROGATE}, REFUSE, "surrogate"),
    ("surrogate in a search", SEARCH_MEMBERS, {"q": SURROGATE}, REFUSE, "surrogate"),
    ("surrogate in a name", CREATE, {"input": {"name": SURROGATE}}, REFUSE, "surrogate"),
    (
        "surrogate in an attribute",
        UPSERT,
        {"members": [{"id": "m", "attributes": {"a": SURROGATE}}]},
        REFUSE,
        "surrogate",
    ),
    (
        "surrogate in an attribute key",
        UPSERT,
        {"members": [{"id": "m", "attributes": [{SURROGATE: 1}]}]},
        REFUSE,
        "surrogate",
    ),
    ("surrogate in a value of the wrong type", MEMBER, {"id": [SURROGATE]}, REFUSE, "surrogate"),
    ("NUL in an unknown input field", UPSERT, {"members": [{"id": "m", NUL: 1}]}, REFUSE, "NUL"),
    ("long member id", MEMBER, {"id": "x" * 1000}, REFUSE, "MAX_ID_LENGTH"),
    ("long isMember id", IS_MEMBER, {"s": "1", "m": "x" * 1000}, REFUSE, "MAX_ID_LENGTH"),
    ("long lookup ids", MEMBERSHIPS_OF, {"ids": ["x" * 1000]}, REFUSE, "MAX_ID_LENGTH"),
    ("long flag key", FLAG, {"key": "k" * 101}, REFUSE, "limit of 100"),
    ("long flag keys", EVALUATE, {"m": "m1", "keys": ["k" * 101]}, REFUSE, "limit of 100"),
    ("long search", SEARCH_MEMBERS, {"q": "q" * 1000}, REFUSE, "MAX_SEARCH_LENGTH"),
    ("1 MB search", SEGMENTS_SEARCH, {"q": "%_" * 500_000}, REFUSE, "MAX_SEARCH_LENGTH"),
    ("1 MB member search", MEMBERS_SEARCH, {"q": "x" * 1_000_000}, REFUSE, "MAX_SEARCH_LENGTH"),
    ("long upsert id", UPSERT, {"members": [{"id": "x" * 1000}]}, USER_ERROR, "over 255"),
    (
        "long member name",
        UPSERT,
        {"members": [{"id": "m", "name": "n" * 1000}]},
        USER_ERROR,
        "over 255",
    ),
    (
        "20 MB string",
        CREATE,
        {"input": {"name": "s", "description": "d" * 20_000_000}},
        REFUSE,
        "MAX_STRING_LENGTH",
    ),
    ("id of 2^63", SEGMENT, {"id": str(BIG)}, ANSWER, ""),
    ("int id of 2^63", SEGMENT, {"id": BIG}, ANSWER, ""),
    ("key id of 2^63", REVOKE_KEY, {"id": str(BIG)}, ANSWER, ""),
    ("campaign id of 2^63", EMAIL_CAMPAIGN, {"id": str(BIG)}, ANSWER, ""),
    ("job id of 2^63", IMPORT_JOB, {"id": str(BIG)}, ANSWER, ""),
    (
        "attribute of 2^70",
        UPSERT,
        {"members": [{"id": "m", "attributes": {"n": 2**70}}]},
        REFUSE,
        "64-bit",
    ),
    (
        "attribute of -2^70",
        UPSERT,
        {"members": [{"id": "m", "attributes": {"n": -(2**70)}}]},
        REFUSE,
        "64-bit",
    ),
    (
        "attributes nested 600 deep",
        UPSERT,
        {"members": [{"id": "m", "attributes": _nested(600)}]},
        REFUSE,
        "MAX_JSON_DEPTH",
    ),
    (
        "date out of range",
        CREATE,
        {"input": {"name": "s", "startsAt": "9999-12-31T23:59:59-23:59"}},
        REFUSE,
        "out of range",
    ),
    (
        "date before year 1",
        CREATE,
        {"input": {"name": "s", "endsAt": "0001-01-01T00:00:00+23:59"}},
        REFUSE,
        "out of range",
    ),
    ("rule with a 5,000-digit number", VALIDATE_RULE, {"rule": "age > " + "9" * 5000}, ANSWER, ""),
    ("rule with a huge float", VALIDATE_RULE, {"rule": "age > 1e400"}, ANSWER, ""),
    (
        "segment rule with a huge number",
        CREATE,
        {"input": {"name": "r", "type": "DYNAMIC", "rule": "age > " + "9" * 5000}},
        ANSWER,
        "",
    ),
]

LITERAL_CASES: list[tuple[str, str, str]] = [
    (
        "attribute 1e400",
        'mutation { upsertMembers(members: [{id: "m", attributes: {n: 1e400}}]) { created } }',
        "finite",
    ),
    (
        "attribute 2^70",
        'mutation { upsertMembers(members: [{id: "m", attributes: {n: 1180591620717411303424}}])'
        " { created } }",
        "64-bit",
    ),
    ("NUL escape in a literal", 'query { member(id: "a\\u0000b") { id } }', "NUL"),
    (
        "date out of range literal",
        'mutation { createSegment(input: {name: "d", startsAt: "9999-12-31T23:59:59-23:59"})'
        " { segment { id } } }",
        "out of range",
    ),
    (
        "JSON nested deep literal",
        'mutation { upsertMembers(members: [{id: "m", attributes: '
        + "{a: " * 40
        + "1"
        + "}" * 40
        + "}]) { created } }",
        "MAX_JSON_DEPTH",
    ),
]


async def _post(api: Api, document: str, variables: dict[str, Any] | None = None) -> Any:
    # JSON with \\u escapes, as any client sends a lone surrogate (it has no UTF-8 form)
    body = json.dumps({"query": document, "variables": variables or {}})
    return await api.client.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )


def _without_fault(response: Any) -> dict[str, Any]:
    """The body of a response that is no 500, no INTERNAL, and whose errors all have a code."""
    assert response.status_code != 500, response.text[:500]
    body: dict[str, Any] = response.json()
    codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
    assert "INTERNAL" not in codes, body
    assert all(c is not None for c in codes), body
    return body


def _refused(response: Any, words: str) -> None:
    body = _without_fault(response)
    assert body.get("data") is None, str(body)[:500]
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert words in error["message"], error
    assert len(error["message"]) < 300, "the message never echoes the value"


@pytest.mark.parametrize(
    ("document", "variables", "expected", "words"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
async def test_bad_variables_are_refused_with_a_code(
    api: Api, document: str, variables: dict[str, Any], expected: str, words: str
) -> None:
    # given a member and a segment, so that the lookups have something to look in
    await members(api, "m1")
    await segment(api, "Listed", memberIds=["m1"])

    # when a bad value is sent as a variable
    response = await _post(api, document, variables)

    # then it is refused with a code naming what is wrong (or answered), never a fault
    if expected == REFUSE:
        _refused(response, words)
    elif expected == USER_ERROR:
        [payload] = _without_fault(response)["data"].values()
        [error] = payload["userErrors"]
        assert error["code"] == "INVALID" and words in error["message"], error
    else:
        _without_fault(response)
    # and nothing was written
    assert (await api.query(MEMBER_COUNT))["members"]["totalCount"] == 1
    assert (await api.query(SEGMENT_COUNT))["segments"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("document", "words"), [c[1:] for c in LITERAL_CASES], ids=[c[0] for c in LITERAL_CASES]
)
async def test_bad_literals_are_refused_with_a_code(api: Api, document: str, words: str) -> None:
    # when a bad value is written in the document itself
    response = await _post(api, document)

    # then it is refused with a code naming what is wrong
    _refused(response, words)


async def test_values_at_their_limits_are_taken(api: Api) -> None:
    # when a member with an id, a name and attributes right at the limits is upserted
    attributes = {"big": 2**63 - 1, "small": -(2**63), "deep": _nested(31), "text": "ok"}
    data = await api.query(
        UPSERT, {"members": [{"id": "x" * 255, "name": "n" * 255, "attributes": attributes}]}
    )

    # then it is stored, and found by its id
    assert data["upsertMembers"]["created"] == 1
    found = await api.query(MEMBER, {"id": "x" * 255})
    assert found["member"] == {"id": "x" * 255}


async def test_a_surrogate_escape_in_the_document_is_a_syntax_error(api: Api) -> None:
    # when a document holds a lone surrogate in a string literal
    response = await _post(api, 'query { member(id: "a\\ud800b") { id } }')

    # then graphql-core's parser refuses it: nothing runs
    assert response.status_code != 500
    body = response.json()
    assert body.get("data") is None
    assert "Invalid Unicode escape" in body["errors"][0]["message"]


async def test_the_compiled_is_member_path_refuses_bad_ids_too(api: Api) -> None:
    # given a segment that exists, so that the compiled path would answer for it
    await members(api, "m1")
    listed = await segment(api, "Listed", memberIds=["m1"])

    for bad, words in ((NUL, "NUL"), (SURROGATE, "surrogate"), ("x" * 1000, "MAX_ID_LENGTH")):
        # when isMember is asked with a bad member id (the document the compiled path takes)
        response = await _post(api, IS_MEMBER, {"s": listed["id"], "m": bad})

        # then it is refused with the code, as by the executor
        _refused(response, words)
    # and a good one is still answered
    assert (await api.query(IS_MEMBER, {"s": listed["id"], "m": "m1"})) == {"isMember": True}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ('{ isMember(segmentId: "1", memberId: "x\\u0000") }', ["memberId"]),
        (
            'mutation { createSegment(input: {name: "A", description: "x\\u0000"})'
            " { segment { id } } }",
            ["input", "description"],
        ),
        (
            'mutation { upsertMembers(members: [{id: "u1"}, {id: "u2", attributes: {a: {b: {c:'
            + "{d: " * 40
            + "1"
            + "}" * 40
            + "}}}}]) { created } }",
            ["members", 1, "attributes", "a", "b", "c", *["d"] * 30],  # depth 33
        ),
        ('{ membershipsOf(memberIds: ["a", "b", "x\\u0000"]) { memberId } }', ["memberIds", 2]),
        (
            'mutation { upsertMembers(members: [{id: "u1"}, {id: "u2", name: "x\\u0000"}])'
            " { created } }",
            ["members", 1, "name"],
        ),
    ],
)
async def test_a_bad_literal_is_named_by_its_argument_path_with_list_indexes(
    api: Api, document: str, field: list[Any]
) -> None:
    # when a bad value is written in the document, inside arguments, inputs and lists
    body = _without_fault(await _post(api, document))

    # then the error names where it is: the argument, the input fields, the list indexes
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["extensions"]["field"] == field
