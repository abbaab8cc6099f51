"""Every error carries extensions.code: parse, validation, variables, each limit; and with
introspection off, messages suggest nothing of the schema."""

from __future__ import annotations

from typing import Any

from app.settings import get_settings
from tests.factories import Api
from tests.http.conftest import AppWith


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


async def test_parse_failure(api: Api) -> None:
    assert _codes(await api.raw("{ viewer {")) == ["GRAPHQL_PARSE_FAILED"]


async def test_validation_failure(api: Api) -> None:
    assert _codes(await api.raw("{ viewer { nope } }")) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_variable_coercion_failure(api: Api) -> None:
    body = await api.raw("query($n: Int) { segments(first: $n) { totalCount } }", {"n": "x"})
    assert _codes(body) == ["BAD_USER_INPUT"]


async def test_depth_limit(api: Api) -> None:
    selection = "id"
    for _ in range(get_settings().max_query_depth + 1):
        selection = f"company {{ members(first: 1) {{ edges {{ node {{ {selection} }} }} }} }}"
    body = await api.raw(f'{{ member(id: "x") {{ {selection} }} }}')
    assert "MAX_DEPTH_EXCEEDED" in _codes(body)


async def test_aliases_limit(api: Api) -> None:
    aliases = " ".join(f"a{i}: viewer {{ role }}" for i in range(get_settings().max_aliases + 1))
    assert "MAX_ALIASES_EXCEEDED" in _codes(await api.raw(f"{{ {aliases} }}"))


async def test_tokens_limit(api: Api) -> None:
    fields = " ".join("__typename" for _ in range(get_settings().max_tokens))
    assert _codes(await api.raw(f"{{ {fields} }}")) == ["MAX_TOKENS_EXCEEDED"]


async def test_with_introspection_off_nothing_is_suggested(app_with: AppWith) -> None:
    # given a server with introspection off
    async with app_with(introspection=False) as api:
        # when a field is misspelt
        body = await api.raw("{ segmnts { totalCount } }")

    # then the error says it is unknown, and names no field of the schema
    message = body["errors"][0]["message"]
    assert "segmnts" in message
    assert "Did you mean" not in message and "segments" not in message.replace("segmnts", "")
    assert _codes(body) == ["GRAPHQL_VALIDATION_FAILED"]


async def test_with_introspection_on_suggestions_stay(api: Api) -> None:
    body = await api.raw("{ segmnts { totalCount } }")
    assert "Did you mean" in body["errors"][0]["message"]
