"""Plans for hot documents (app.lookups.plans) answer exactly what the executor answers, the
whole JSON body (data, errors, extensions.cost) compared, and leave every other document,
and every request that ends in an error, to the executor."""

from __future__ import annotations

import asyncio
import functools
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest
from graphql.execution.values import get_argument_values, get_variable_values
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.flags import plans as flag_plans
from app.graphql.pagination import encode_cursor
from app.lookups import page as page_plans
from app.lookups import plans, segment_list
from app.schema import build_schema
from app.settings import Settings, get_settings
from tests.factories import Api, companies, members, segment
from tests.lookups.support import executor_only

IS_MEMBER = "query Check($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
# the documents of the benchmark (bench/postgraphile.py), and variants a plan also takes
DOCUMENTS = {
    "isMember": IS_MEMBER,
    "isMember, literal and alias": 'query($m: ID!) { yes: isMember(segmentId: "1", memberId: $m) }',
    "memberSegments": "query($m: ID!) { memberSegments(memberId: $m) { id } }",
    "memberSegments, every leaf": (
        "query S($m: ID!, $all: Boolean) { memberSegments(memberId: $m, includeInactive: $all)"
        " { __typename id name description type isActive startsAt endsAt status rule"
        " createdAt updatedAt } }"
    ),
    "memberSegments, aliases": (
        "query($m: ID!, $all: Boolean! = true) { mine: memberSegments(memberId: $m,"
        " includeInactive: $all) { key: id title: name status } }"
    ),
    "membershipsOf": (
        "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId segmentIds } }"
    ),
    "evaluateFlags": "query($m: ID!) { evaluateFlags(memberId: $m) { key enabled } }",
    "segment page": (
        "query($s: ID!) { segment(id: $s) { id name memberCount"
        " members(first: 50) { edges { node { id email name } } } } }"
    ),
    "segment page, every field": (
        "query P($s: ID!, $n: Int, $after: String) { seg: segment(id: $s) { __typename id name"
        " description type isActive startsAt endsAt status rule createdAt updatedAt memberCount"
        " companyCount members(first: $n, after: $after) { __typename total: totalCount"
        " pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }"
        " edges { __typename cursor source addedAt expiresAt who: node { __typename id email"
        " name attributes createdAt updatedAt } } } } }"
    ),
    "segment, no page": "query($s: ID!) { segment(id: $s) { name count: memberCount } }",
    "segment list": "{ segments(first: 50) { edges { node { id name memberCount } } } }",
    "segment list, every field": (
        "query L($n: Int, $after: String, $status: SegmentStatusFilter, $q: String) { all:"
        " segments(first: $n, after: $after, status: $status, search: $q) { __typename"
        " total: totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor"
        " __typename } edges { __typename at: cursor node { __typename id name description"
        " type isActive startsAt endsAt status rule createdAt updatedAt memberCount"
        " companies: companyCount } } } }"
    ),
    "segment list, no counts": (
        "query($n: Int, $after: String) { segments(first: $n, after: $after) { pageInfo"
        " { endCursor } edges { cursor } } }"
    ),
    "evaluateFlags, keys": (
        "query($m: ID!, $keys: [String!]) { evaluateFlags(memberId: $m, keys: $keys)"
        " { __typename key enabled matchedSegmentIds } }"
    ),
}
GOLD = {"type": "DYNAMIC", "rule": "attributes.tier = 'gold'"}
MEMBER_IDS = ["in", "gold", "both", "out", "ghost", "", "x" * 300]
FLAG = """
mutation($input: FeatureFlagInput!) {
  createFeatureFlag(input: $input) { userErrors { message } }
}
"""


async def given_site(api: Api) -> dict[str, str]:
    """Members in and out of a listed, a company, a DYNAMIC and an inactive segment, and
    flags over them; the segments' ids by name."""
    await companies(api, "c1", name="Acme")
    await members(api, "in", "out")
    await members(api, "gold", attributes={"tier": "gold"})
    await members(api, "both", companyId="c1", attributes={"tier": "gold"})
    made = [
        await segment(api, "Listed", memberIds=["in", "both"], description="the list"),
        await segment(api, "Company", companyIds=["c1"]),
        await segment(api, "Rule", type="DYNAMIC", rule="attributes.tier = 'gold'"),
        await segment(api, "Off", memberIds=["in"], isActive=False),
    ]
    ids = {s["name"]: s["id"] for s in made}
    for key, names, on in (
        ("a", ["Listed", "Rule"], True),
        ("b", ["Off"], True),
        ("c", ["Company"], True),
        ("d", ["Listed"], False),
        ("e", [], True),
    ):
        data = await api.query(
            FLAG, {"input": {"key": key, "segmentIds": [ids[n] for n in names], "enabled": on}}
        )
        assert data["createFeatureFlag"]["userErrors"] == []
    # and segments with every kind of tie at once, exclusions and a listing that expires
    mixed = await segment(api, "Mixed", **GOLD, memberIds=["in"], companyIds=["c1"])
    expiring = await segment(api, "Expiring", memberIds=["in", "out", "both"])
    for mutation, input_ in (
        ("updateSegmentExclusions", {"segmentId": mixed["id"], "memberIds": ["gold"]}),
        ("updateSegmentExclusions", {"segmentId": expiring["id"], "memberIds": ["both"]}),
        (
            "updateSegmentMembers",
            {
                "segmentId": expiring["id"],
                "memberIds": ["gold"],
                "expiresAt": "2999-01-01T00:00:00+00:00",
            },
        ),
    ):
        kind = mutation[0].upper() + mutation[1:] + "Input"
        data = await api.query(
            f"mutation($input: {kind}!) {{ {mutation}(input: $input)"
            " { userErrors { code } } }",
            {"input": {**input_, "mode": "ADD"}},
        )
        assert data[mutation]["userErrors"] == []
    ids.update({"Mixed": mixed["id"], "Expiring": expiring["id"]})
    # and segments of every status
    await segment(api, "Later", startsAt="2999-01-01T00:00:00+00:00")
    await segment(api, "Over", endsAt="2001-01-01T00:00:00+00:00")
    gone = await segment(api, "Gone", memberIds=["out"])
    data = await api.query(
        "mutation($id: ID!) { archiveSegment(id: $id) { userErrors { code } } }", {"id": gone["id"]}
    )
    assert data["archiveSegment"]["userErrors"] == []
    return ids


ids_ = st.sampled_from(MEMBER_IDS)
# mostly values the executor takes, sometimes ones it refuses (or coerces: an Int for an ID)
variables_ = st.fixed_dictionaries(
    {
        "s": st.one_of(
            st.sampled_from(["1", "2", "3", "4", "5", "6"]),
            st.sampled_from(["1", "2", "3", "4", "5", "6", "999", "x", ""]),
            st.integers(0, 5),
        ),
        "m": st.one_of(ids_, ids_, ids_, st.integers(0, 3), st.none(), st.booleans()),
        "ids": st.one_of(
            st.lists(ids_, max_size=6),
            st.lists(ids_, max_size=6),
            ids_,
            st.lists(st.integers(0, 2), max_size=2),
            st.lists(st.none(), min_size=1, max_size=1),
        ),
    },
    optional={
        "n": st.one_of(st.none(), st.integers(-1, 6), st.just(501), st.just("2")),
        "after": st.one_of(
            st.none(),
            st.sampled_from([encode_cursor(pk) for pk in range(0, 12)]),
            st.sampled_from([encode_cursor("m"), "x", encode_cursor(-3)]),
            st.sampled_from([encode_cursor(name) for name in ("Company", "Mixed", "Off", "")]),
        ),
        "status": st.one_of(
            st.none(),
            st.sampled_from(["ALL", "ACTIVE", "INACTIVE", "SCHEDULED", "EXPIRED", "ARCHIVED", "x"]),
        ),
        "q": st.one_of(st.none(), st.sampled_from(["", "i", "list"])),
        "all": st.one_of(st.booleans(), st.none(), st.just("yes")),
        "keys": st.one_of(
            st.none(),
            st.lists(st.sampled_from(["a", "b", "c", "d", "e", "zz"]), max_size=4),
            st.lists(st.sampled_from(["a", "k" * 101]), max_size=2),
        ),
    },
).flatmap(
    # and now and then a required variable left out
    lambda v: st.sampled_from([v, v, v, {k: x for k, x in v.items() if k not in ("m", "ids")}])
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_a_plan_answers_what_the_executor_answers(
    api: Api, monkeypatch: pytest.MonkeyPatch, answered: list[Any], data: st.DataObject
) -> None:
    # given a site with members in and out of segments of every kind, and flags
    if not getattr(api, "_given", False):
        await given_site(api)
        api._given = True  # type: ignore[attr-defined]
    # when a benchmark document is asked with random ids and variables, through its plan
    # (asked twice first: it is hot then) and through the executor alone
    name = data.draw(st.sampled_from(sorted(DOCUMENTS)))
    variables = data.draw(variables_)
    document = DOCUMENTS[name]
    await api.raw(document, variables)
    answered.clear()
    planned = await api.raw(document, variables)
    with executor_only(monkeypatch):
        executed = await api.raw(document, variables)
    # then both answers are the same JSON
    assert planned == executed, (name, variables)
    # and the plan answered whenever the executor answered without an error (but a search
    # of the segments, which the plans leave to the executor)
    assert len(answered) == 1
    searched = "search: $q" in document and bool(variables.get("q"))
    expected = "errors" not in executed and not searched
    assert (answered[0] is not None) == expected, (name, variables, executed)


async def test_a_document_is_planned_once_it_is_hot(api: Api, answered: list[Any]) -> None:
    # given a member of a segment
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    variables = {"s": seg["id"], "m": "m1"}
    # when the same document (one no other test sends) comes three times
    document = IS_MEMBER.replace("Check", "Hot")
    for _ in range(3):
        assert await api.query(document, variables) == {"isMember": True}
    # then the executor answered the first, a plan the others
    assert answered == [{"isMember": True}, {"isMember": True}]


async def test_a_persisted_query_is_planned_at_once(api: Api, answered: list[Any]) -> None:
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    document = "query P($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }"
    digest = hashlib.sha256(document.encode()).hexdigest()
    response = await api.client.post(
        "/graphql",
        json={
            "query": document,
            "variables": {"s": seg["id"], "m": "m1"},
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
        },
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert response.json()["data"] == {"isMember": True}
    assert answered == [{"isMember": True}]


def registry(config: Settings | None = None) -> plans.Plans:
    config = config or get_settings()
    fields = [*plans.FIELDS, *flag_plans.FIELDS, *page_plans.FIELDS, *segment_list.FIELDS]
    found = plans.Plans(fields, config, hot=1)
    found.bind(build_schema(config)._schema)  # type: ignore[attr-defined]
    return found


@pytest.mark.parametrize(
    "document",
    [
        '{ isMember(segmentId: 1, memberId: "m") }x',  # not GraphQL
        "query($s: String!, $m: ID!) { isMember(segmentId: $s, memberId: $m) }",  # invalid
        "query($s: ID!, $m: ID!, $x: ID) { isMember(segmentId: $s, memberId: $m) }",
        "query($s: ID!, $m: ID!) { isMember(segmentId: $s, memberId: $m) @skip(if: false) }",
        "query($s: ID!, $m: ID!) { ...F } fragment F on Query { isMember(segmentId: $s,"
        " memberId: $m) }",
        "query($s: ID!, $m: ID!) { a: isMember(segmentId: $s, memberId: $m) viewer { role } }",
        "query($m: ID!) { memberSegments(memberId: $m) { id memberCount } }",
        "query($m: ID!) { memberSegments(memberId: $m) { id id } }",
        "query($m: ID!) { memberSegments(memberId: $m) { ... on Segment { id } } }",
        "query($m: ID!) { memberSegments(memberId: $m) }",
        '{ explainMembership(segmentId: "1", memberId: "m") { isMember } }',
        "mutation { __typename }",
        '{ isMember(segmentId: "1") }',
    ],
)
def test_documents_left_to_the_executor(document: str) -> None:
    assert registry().find(document) is None


def test_a_document_over_a_limit_is_left_to_the_executor() -> None:
    document = "query($m: ID!) { memberSegments(memberId: $m) { a: id b: name c: rule } }"
    assert registry().find(document) is not None
    assert registry(Settings(max_aliases=2)).find(document) is None
    assert registry(Settings(max_query_cost=1)).find(document) is not None
    assert registry(Settings(max_tokens=10)).find(document) is None


def test_the_plan_of_a_document() -> None:
    found = registry().find(
        "query Q($m: ID!) { yes: memberSegments(memberId: $m) { key: id name } }"
    )
    assert found is not None
    assert (found.key, found.name, found.cost) == ("yes", "Q", 1)
    assert [key for key, _ in found.selection] == ["key", "name"]


async def test_too_many_ids_are_left_to_the_executor() -> None:
    config = Settings(max_lookup_ids=2)
    found = registry(config)
    document = "query($ids: [ID!]!) { membershipsOf(memberIds: $ids) { memberId } }"
    plan = found.find(document)
    assert plan is not None and found.schema is not None
    # three ids: the executor's TOO_LARGE (the plan gives the request back before reading)
    assert await plan.run(found.schema, config, {"ids": ["a", "b", "c"]}, None, 1) is None


async def test_a_hot_document_asking_the_past_is_answered_from_the_record(
    api: Api, answered: list[Any]
) -> None:
    # given a member listed in a segment after a moment `before`
    await members(api, "m1")
    seg = await segment(api, "Later")
    await asyncio.sleep(0.01)
    before = datetime.now(UTC).isoformat()
    await asyncio.sleep(0.01)
    data = await api.query(
        "mutation($input: UpdateSegmentMembersInput!) { updateSegmentMembers(input: $input)"
        " { added userErrors { code } } }",
        {"input": {"segmentId": seg["id"], "memberIds": ["m1"], "mode": "ADD"}},
    )
    assert data["updateSegmentMembers"] == {"added": 1, "userErrors": []}
    document = (
        "query Past($s: ID!, $m: ID!, $at: DateTime) { isMember(segmentId: $s, memberId: $m,"
        " at: $at) }"
    )
    # when the document is hot, asked now and then at `before`
    for _ in range(3):
        assert await api.query(document, {"s": seg["id"], "m": "m1"}) == {"isMember": True}
    past = await api.query(document, {"s": seg["id"], "m": "m1", "at": before})
    # then the plan answered for now, and gave the past to the resolver, which reads the record
    assert past == {"isMember": False}
    assert answered[-1] is None and answered[:-1] == [{"isMember": True}] * 2


@functools.cache
def _registry() -> plans.Plans:
    return registry()


@settings(max_examples=300, deadline=None)
@given(name=st.sampled_from(sorted(DOCUMENTS)), variables=variables_)
def test_a_plans_direct_arguments_are_graphql_cores(name: str, variables: dict[str, Any]) -> None:
    # given the plan of a benchmark document whose variables are IDs and Strings
    found = _registry()
    plan = found.find(DOCUMENTS[name])
    if plan is None or plan.direct is None:
        return
    # when a request's variables are read without graphql-core's walk
    direct = plan.direct.arguments(variables)
    if direct is None:  # values it leaves to graphql-core
        return
    # then they are the arguments graphql-core's own functions read
    assert found.schema is not None
    coerced = get_variable_values(
        found.schema, plan.operation.variable_definitions or (), variables, max_errors=1
    )
    assert not isinstance(coerced, list)
    assert direct == get_argument_values(plan.definition, plan.node, coerced)


def test_the_lookups_of_the_benchmark_read_their_arguments_directly() -> None:
    found = _registry()
    segments = found.find(DOCUMENTS["memberSegments"])
    assert segments is not None and segments.direct is not None
    assert segments.direct.arguments({"m": "x"}) == {
        "memberId": "x",
        "includeInactive": False,
        "at": None,
    }
    assert segments.direct.arguments({"m": 3}) is None  # graphql-core makes it "3"
    many = found.find(DOCUMENTS["membershipsOf"])
    assert many is not None and many.direct is not None
    assert many.direct.arguments({"ids": ["a", "b"]}) == {"memberIds": ["a", "b"]}
    assert many.direct.arguments({"ids": "a"}) is None  # graphql-core makes it ["a"]
