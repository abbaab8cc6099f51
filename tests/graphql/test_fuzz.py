"""Fuzzing: documents generated from the schema (hypothesis-graphql, valid ones and ones with a
schema violation) and hostile variables (NUL, lone surrogates, huge and non-finite numbers,
deep JSON, long strings, bad dates) sent to the app as an ADMIN would: none may answer a 500
or a masked INTERNAL. Bounded for CI by example counts (FUZZ_EXAMPLES scales them)."""

from __future__ import annotations

import asyncio
import json
import os
import string
from collections import Counter
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, from_schema, nodes

from app.schema import sdl
from tests.factories import Api, members, segment

SCALE = float(os.environ.get("FUZZ_EXAMPLES_SCALE", "1"))
# revoking or making keys would only lock the fuzzer out: every other root field is fuzzed
_SKIPPED = {"revokeApiKey", "createApiKey"}

_HOSTILE_TEXT = st.sampled_from(
    ["", "\x00", "a\x00b", "\ud800", "x" * 300, "%_\\", "9" * 30, "-1", "0", "1e400", "NaN"]
)
_TEXT = st.one_of(_HOSTILE_TEXT, st.text(max_size=20), st.text(string.digits, max_size=25))
_NUMBER = st.one_of(
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([2**63, 2**63 - 1, -(2**63) - 1, 2**31]),
)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), _NUMBER, _TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_TEXT, inner, max_size=3)),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


_DATETIME_TEXT = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.sampled_from(
        ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "2020-13-01", "now", ""]
    ),
)
_CUSTOM_SCALARS = {
    "DateTime": _DATETIME_TEXT.map(nodes.String),
    "JSON": st.one_of(
        st.integers(min_value=-(2**70), max_value=2**70).map(nodes.Int),
        st.floats(allow_nan=False).map(nodes.Float),
        st.sampled_from(["1e400", "-1e400"]).map(lambda v: graphql.FloatValueNode(value=v)),
        _TEXT.map(nodes.String),
        st.just(graphql.ObjectValueNode(fields=())),
    ),
    "Upload": st.just(graphql.NullValueNode()),
}


def _member_input() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {"id": _ID},
        optional={
            "email": _TEXT,
            "name": _TEXT,
            "companyId": _ID,
            "attributes": st.one_of(_JSON, st.just(_deep(40)), st.just(_deep(1100))),
        },
    )


_ID = st.one_of(_TEXT, st.integers(min_value=-(2**70), max_value=2**70))
_IDS = st.lists(_ID, max_size=3)
_MODE = st.sampled_from(["ADD", "DELETE", "OVERRIDE"])
_SEGMENT_INPUT = st.fixed_dictionaries(
    {"name": _TEXT},
    optional={
        "rule": st.one_of(_TEXT, st.just("attributes.age > " + "9" * 5000)),
        "type": st.sampled_from(["STATIC", "DYNAMIC"]),
        "description": _TEXT,
        "startsAt": _DATETIME_TEXT,
        "endsAt": _DATETIME_TEXT,
        "memberIds": _IDS,
    },
)
_MEMBERS_INPUT = st.fixed_dictionaries(
    {"segmentId": _ID, "memberIds": _IDS, "mode": _MODE},
    optional={"expiresAt": _DATETIME_TEXT, "idempotencyKey": _TEXT, "createMissing": st.booleans()},
)
_CHANGE = st.fixed_dictionaries(
    {"segmentId": _ID, "mode": _MODE}, optional={"memberIds": _IDS, "companyIds": _IDS}
)

# documents with variables, and values for them: mostly of the right type, often hostile
VARIABLE_REQUESTS: list[tuple[str, dict[str, st.SearchStrategy[Any]]]] = [
    ("query($id: ID!) { segment(id: $id) { id name members { totalCount } } }", {"id": _ID}),
    ("query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }", {"s": _ID, "m": _ID}),
    (
        "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }",
        {"ids": _IDS},
    ),
    ("query($q: String!) { searchMembers(q: $q) { id label } }", {"q": _TEXT}),
    (
        "query($q: String, $after: String) { segments(search: $q, after: $after) { totalCount } }",
        {"q": _TEXT, "after": _TEXT},
    ),
    ("query($rule: String!) { validateRule(rule: $rule) { valid } }", {"rule": _TEXT}),
    ("query($key: String!) { featureFlag(key: $key) { key } }", {"key": _TEXT}),
    (
        "query($m: ID!, $keys: [String!]) { evaluateFlags(memberId: $m, keys: $keys) { key } }",
        {"m": _ID, "keys": st.lists(_TEXT, max_size=3)},
    ),
    (
        "mutation($members: [MemberInput!]!) { upsertMembers(members: $members)"
        " { created updated userErrors { code } } }",
        {"members": st.lists(_member_input(), min_size=1, max_size=2)},
    ),
    (
        "mutation($input: CreateSegmentInput!) { createSegment(input: $input)"
        " { segment { id } userErrors { code } } }",
        {"input": _SEGMENT_INPUT},
    ),
    (
        "mutation($input: UpdateSegmentMembersInput!) { updateSegmentMembers(input: $input)"
        " { added userErrors { code } } }",
        {"input": _MEMBERS_INPUT},
    ),
    (
        "mutation($changes: [MembershipChangeInput!]!, $key: String) {"
        " applyMembershipChanges(changes: $changes, idempotencyKey: $key)"
        " { userErrors { code } } }",
        {"changes": st.lists(_CHANGE, min_size=1, max_size=3), "key": _TEXT},
    ),
    # and now and then a value of any type at all
    ("query($id: ID!) { member(id: $id) { id } }", {"id": _JSON}),
]

_VARIABLE_REQUESTS = st.sampled_from(VARIABLE_REQUESTS).flatmap(
    lambda request: st.tuples(st.just(request[0]), st.fixed_dictionaries(request[1]))
)


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=max(1, int(examples * SCALE)),
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking time: the failure is printed
        suppress_health_check=list(HealthCheck),
    )


def _fault(response: httpx.Response) -> str | None:
    """What is wrong with an answer: a 500, a body that is not JSON, an INTERNAL error."""
    if response.status_code >= 500 and response.status_code != 503:
        return f"HTTP {response.status_code}: {response.text[:300]}"
    try:
        body = response.json()
    except json.JSONDecodeError:
        return f"not JSON: {response.text[:300]}"
    for error in body.get("errors") or []:
        if (error.get("extensions") or {}).get("code") in ("INTERNAL", "SERVICE_UNAVAILABLE"):
            return f"{error}"
    return None


async def _send(api: Api, document: str, variables: dict[str, Any] | None) -> httpx.Response:
    # json.dumps escapes lone surrogates (\\ud800), as a client's JSON encoder does
    body = json.dumps({"query": document, "variables": variables}, default=str)
    return await api.client.post(
        "/graphql",
        content=body.encode(),
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )


def _run(
    api: Api, loop: asyncio.AbstractEventLoop, document: str, variables: Any, sent: Counter[str]
) -> None:
    """Send one request on the test's loop from hypothesis's thread; fail on a fault."""
    response = asyncio.run_coroutine_threadsafe(_send(api, document, variables), loop).result(60)
    sent["requests"] += 1
    sent[f"HTTP {response.status_code}"] += 1
    if response.headers.get("content-type", "").startswith("application/json"):
        for error in response.json().get("errors") or []:
            code = (error.get("extensions") or {}).get("code")
            sent[str(code)] += 1
            if os.environ.get("FUZZ_SHOW") and code is None:
                print("uncoded:", error["message"][:100])
    fault = _fault(response)
    assert fault is None, f"{fault}\ndocument: {document[:2000]}\nvariables: {variables!r:.2000}"


@pytest.fixture
async def seeded(api: Api) -> Api:
    """A site with a member, a company-less segment and a rule segment to fuzz against."""
    await members(api, "1", email="a@example.com", attributes={"age": 30})
    await segment(api, "VIP", memberIds=["1"])
    await segment(api, "Adults", type="DYNAMIC", rule="attributes.age >= 18")
    return api


async def test_fuzzed_documents_never_fault(seeded: Api) -> None:
    loop = asyncio.get_running_loop()
    sent: Counter[str] = Counter()
    schema = graphql.build_schema(sdl())
    fields = [
        name
        for root in (schema.query_type, schema.mutation_type)
        if root is not None
        for name in root.fields
        if name not in _SKIPPED
    ]
    positive = from_schema(schema, fields=fields, custom_scalars=_CUSTOM_SCALARS, codec=None)
    negative = from_schema(
        schema, fields=fields, custom_scalars=_CUSTOM_SCALARS, codec=None, mode=Mode.NEGATIVE
    )

    @_fuzz_settings(150)
    @given(document=st.one_of(positive, negative))
    def documents(document: str) -> None:
        _run(seeded, loop, document, None, sent)

    @_fuzz_settings(150)
    @given(request=_VARIABLE_REQUESTS)
    def variables(request: tuple[str, dict[str, Any]]) -> None:
        _run(seeded, loop, request[0], request[1], sent)

    await asyncio.to_thread(documents)
    await asyncio.to_thread(variables)
    print(f"fuzzed: {dict(sent)}")
    assert sent["requests"] >= 2
