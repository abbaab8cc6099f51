"""Lists of ids taken whole when variables are coerced (app.graphql.variables): the values the
resolvers get and every error a caller reads are graphql-core's own, list taken whole or not."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import GraphQLSchema, parse
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from app.graphql.variables import LiftingExecutor, lift
from app.http.graphql import GraphQLApp
from app.schema import build_schema
from app.settings import Settings
from tests.factories import Api, segment

SCHEMA: GraphQLSchema = build_schema(Settings())._schema  # type: ignore[attr-defined]

DELETE_MEMBERS = "mutation($ids: [ID!]!) { deleteMembers(ids: $ids) { deleted } }"
UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) {
    added removed unchanged unknownCount segment { memberCount } userErrors { code message }
  }
}
"""
UPDATE_EXCLUSIONS = """
mutation($input: UpdateSegmentExclusionsInput!) {
  updateSegmentExclusions(input: $input) { added }
}
"""
CREATE_SEGMENT = """
mutation($input: CreateSegmentInput!) { createSegment(input: $input) { segment { id } } }
"""
FLAGS = """
query($memberId: ID!, $keys: [String!], $ids: [ID!]!) {
  evaluateFlags(memberId: $memberId, keys: $keys) { key }
  resolveMembers(ids: $ids) { id }
}
"""
NAMED = """
query One($ids: [ID!]!) { resolveMembers(ids: $ids) { id } }
mutation Two($ids: [ID!]!) { deleteMembers(ids: $ids) { deleted } }
"""

IDS = [f"m{i:05d}" for i in range(2000)]


def _input(**fields: Any) -> dict[str, Any]:
    return {"input": {"segmentId": "1", "memberIds": IDS, "mode": "ADD", **fields}}


def _build(
    executor: type[StrawberryGraphQLCoreExecutionContext],
    document: str,
    variables: dict[str, Any],
    operation_name: str | None = None,
) -> Any:
    return executor.build(
        SCHEMA, parse(document), raw_variable_values=variables, operation_name=operation_name
    )


VALID = {
    "a list variable": (DELETE_MEMBERS, {"ids": IDS}, None),
    "a field of an input object": (UPDATE_MEMBERS, _input(dryRun=True), None),
    "another input object": (UPDATE_EXCLUSIONS, _input(), None),
    "two nullable lists with defaults": (
        CREATE_SEGMENT,
        {"input": {"name": "s", "memberIds": IDS, "companyIds": ["c1", "é\u2603"]}},
        None,
    ),
    "a list of strings beside a list of ids": (
        FLAGS,
        {"memberId": "m1", "keys": ["flag-a", "flag-b"], "ids": IDS},
        None,
    ),
    "the named operation's variables": (NAMED, {"ids": IDS}, "Two"),
    "one id": (DELETE_MEMBERS, {"ids": ["m1"]}, None),
}


@pytest.mark.parametrize(("document", "variables", "name"), VALID.values(), ids=VALID.keys())
def test_lists_of_strings_are_taken_whole_as_graphql_core_coerces_them(
    document: str, variables: dict[str, Any], name: str | None
) -> None:
    # given variables holding lists of plain strings: they are taken whole
    assert lift(SCHEMA, parse(document), variables, name) is not None

    # when the executor is built with and without taking them whole
    lifted = _build(LiftingExecutor, document, variables, name)
    plain = _build(StrawberryGraphQLCoreExecutionContext, document, variables, name)

    # then the resolvers' values and the variables' sources are the same
    assert not isinstance(lifted, list), lifted
    assert lifted.variable_values.coerced == plain.variable_values.coerced
    assert {k: s.value for k, s in lifted.variable_values.sources.items()} == {
        k: s.value for k, s in plain.variable_values.sources.items()
    }
    # and a coerced list is not the caller's own list object
    for value in variables.values():
        if isinstance(value, list):
            assert all(v is not value for v in lifted.variable_values.coerced.values())


def test_ids_given_as_numbers_are_coerced_by_graphql_core() -> None:
    # given a list of ids with a number among them (ID takes it, as a string)
    variables = {"ids": [*IDS, 7]}

    # when built, then the list is not taken whole, and the number is an id
    assert lift(SCHEMA, parse(DELETE_MEMBERS), variables, None) is None
    built = _build(LiftingExecutor, DELETE_MEMBERS, variables)
    assert built.variable_values.coerced == {"ids": [*IDS, "7"]}


def _deep(depth: int) -> list[Any]:
    value: list[Any] = ["m1"]
    for _ in range(depth):
        value = [value]
    return value


INVALID = {
    "a float among ids": (DELETE_MEMBERS, {"ids": [*IDS, 1.5]}),
    "a boolean among ids": (DELETE_MEMBERS, {"ids": ["m1", True]}),
    "null in [ID!]": (DELETE_MEMBERS, {"ids": [*IDS[:10], None, *IDS[10:]]}),
    "an object among ids": (DELETE_MEMBERS, {"ids": ["m1", {"id": "m2"}]}),
    "a list among ids": (DELETE_MEMBERS, {"ids": ["m1", ["m2"]]}),
    "ids nested too deeply": (DELETE_MEMBERS, {"ids": _deep(2000)}),
    "many errors": (DELETE_MEMBERS, {"ids": [float(i) + 0.5 for i in range(80)]}),
    "null for the list": (DELETE_MEMBERS, {"ids": None}),
    "a number in [String!]": (FLAGS, {"memberId": "m1", "keys": ["a", 5], "ids": IDS}),
    "a list given to an ID beside a list taken whole": (
        FLAGS,
        {"memberId": ["m1"], "keys": ["a"], "ids": IDS},
    ),
    "an unknown field beside a list taken whole": (UPDATE_MEMBERS, _input(colour="red")),
    "a required field missing beside a list taken whole": (
        UPDATE_MEMBERS,
        {"input": {"segmentId": "1", "memberIds": IDS}},
    ),
    "a wrong enum value beside a list taken whole": (UPDATE_MEMBERS, _input(mode="DELET")),
    "a list given to an ID field beside a list taken whole": (
        UPDATE_MEMBERS,
        _input(segmentId=["1"]),
    ),
    "a bad id inside an input object": (
        UPDATE_MEMBERS,
        {"input": {"segmentId": "1", "memberIds": [*IDS, False], "mode": "ADD"}},
    ),
    "an input object that is a list": (UPDATE_MEMBERS, {"input": [IDS]}),
}


@pytest.mark.parametrize(("document", "variables"), INVALID.values(), ids=INVALID.keys())
def test_refused_variables_have_graphql_cores_errors_word_for_word(
    document: str, variables: dict[str, Any]
) -> None:
    # when variables graphql-core refuses are coerced with and without taking lists whole
    lifted = _build(LiftingExecutor, document, variables)
    plain = _build(StrawberryGraphQLCoreExecutionContext, document, variables)

    # then the errors are the same: messages, locations, paths, everything a caller reads
    assert isinstance(plain, list) and plain, plain
    assert isinstance(lifted, list), lifted
    assert [e.formatted for e in lifted] == [e.formatted for e in plain]


def test_the_served_schema_takes_lists_whole() -> None:
    # the one schema HTTP, the WebSocket and persisted queries all execute with
    application = GraphQLApp(Settings())
    assert application.schema.execution_context_class is LiftingExecutor


async def test_50000_ids_over_http_are_added_then_deleted(api: Api) -> None:
    # given a segment and 50,000 ids unknown to the site
    target = await segment(api, "Big")
    ids = [f"big-{i:06d}" for i in range(50_000)]

    # when they are added (members created for them) and then deleted over HTTP
    added = await api.query(
        UPDATE_MEMBERS,
        {
            "input": {
                "segmentId": target["id"],
                "memberIds": ids,
                "mode": "ADD",
                "createMissing": True,
            }
        },
    )
    deleted = await api.query(
        UPDATE_MEMBERS,
        {"input": {"segmentId": target["id"], "memberIds": ids[:30_000], "mode": "DELETE"}},
    )

    # then every id counted: all added, the 30,000 removed, the rest still listed
    assert added["updateSegmentMembers"]["added"] == 50_000, added
    assert added["updateSegmentMembers"]["userErrors"] == []
    assert deleted["updateSegmentMembers"]["removed"] == 30_000, deleted
    assert deleted["updateSegmentMembers"]["segment"]["memberCount"] == 20_000


async def test_one_bad_id_among_50000_over_http_is_graphql_cores_error(api: Api) -> None:
    # given 50,000 ids with a float in the middle
    ids: list[Any] = [f"big-{i:06d}" for i in range(50_000)]
    ids[25_000] = 2.5

    # when they are sent, then the answer is graphql-core's error for that one value
    body = await api.raw(
        UPDATE_MEMBERS, {"input": {"segmentId": "1", "memberIds": ids, "mode": "DELETE"}}
    )
    assert "data" not in body or body["data"] is None, body
    assert [e["message"] for e in body["errors"]] == [
        "Variable '$input' has invalid value at .memberIds[25000]: ID cannot represent value: 2.5"
    ]
