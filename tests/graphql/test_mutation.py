"""The mutation wrapper's mapping from a service's domain terms to argument paths, and
the payload it answers when the service refuses."""

from __future__ import annotations

from types import SimpleNamespace

import strawberry

from app.errors import DomainError, ErrorCode
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.mutation import ArgumentPaths, mutation
from app.viewer import Role


async def _with_input(self: object, info: object, id: str, input: object) -> None: ...


async def _with_arguments(self: object, info: object, segment_id: str, name: str) -> None: ...


def test_a_domain_field_lives_in_the_input_argument() -> None:
    # given a mutation taking `id` and `input`
    paths = ArgumentPaths(_with_input, {})

    # then a domain field is that field of the input, in GraphQL case
    assert paths(["ends_at"]) == ["input", "endsAt"]
    assert paths(["name"]) == ["input", "name"]
    assert paths(["option_ids", "3"]) == ["input", "optionIds", "3"]
    # and a field naming an argument stays that argument
    assert paths(["id"]) == ["id"]
    # and an empty path names the whole input
    assert paths([]) == ["input"]


def test_a_domain_field_names_the_argument_without_input() -> None:
    # given a mutation with plain arguments
    paths = ArgumentPaths(_with_arguments, {})

    # then the terms name the arguments
    assert paths(["segment_id"]) == ["segmentId"]
    assert paths(["name"]) == ["name"]
    assert paths([]) == []


async def _batch(self: object, info: object, changes: list[object]) -> None: ...


def test_explicit_fields_win_over_the_rule() -> None:
    # given mutations whose service says "segment" for another argument name
    single = ArgumentPaths(_with_input, {"segment": ["input", "segmentId"]})
    batch = ArgumentPaths(_batch, {"segment": ["segmentId"]})

    # then the mapping is used wherever the term stands
    assert single(["segment"]) == ["input", "segmentId"]
    assert batch(["changes", "0", "segment"]) == ["changes", "0", "segmentId"]


async def _batch_with_key(
    self: object, info: object, changes: list[object], idempotency_key: str | None
) -> None: ...


def test_the_idempotency_key_is_named_where_the_client_put_it() -> None:
    # given mutations carrying the key in their input or as an argument
    in_input = ArgumentPaths(_with_input, {})
    batch = ArgumentPaths(_batch_with_key, {})

    # then each names it at its own argument path
    assert in_input(["idempotency_key"]) == ["input", "idempotencyKey"]
    assert batch(["idempotency_key"]) == ["idempotencyKey"]


@strawberry.type
class _ThingPayload:
    thing: str | None
    secret: str | None
    user_errors: list[UserError]


@strawberry.type
class _Query:
    ok: bool = True


@strawberry.type
class _Mutation:
    @mutation(Role.WRITER)
    async def make_thing(self, info: Info, name: str) -> _ThingPayload:
        raise DomainError(ErrorCode.INVALID, "no such thing", ["name"])


async def test_a_failed_mutation_answers_its_payload_emptied() -> None:
    # given a mutation whose service refuses, and no `failed` payload given
    schema = strawberry.Schema(query=_Query, mutation=_Mutation)
    context = SimpleNamespace(require=lambda role: None)

    # when it is called
    result = await schema.execute(
        'mutation { makeThing(name: "x") { thing secret userErrors { field message code } } }',
        context_value=context,
    )

    # then the answer is its payload with every other field null, and the error
    assert result.errors is None
    assert result.data == {
        "makeThing": {
            "thing": None,
            "secret": None,
            "userErrors": [{"field": ["name"], "message": "no such thing", "code": "INVALID"}],
        }
    }
