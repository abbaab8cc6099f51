"""GraphQL over HTTP to the letter (graphql-http's audit, as tests): media types, status
codes, GET and POST, and a GraphQL-shaped body with a code for every refusal."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from tests.factories import Api

GR_JSON = "application/graphql-response+json"
VIEWER = "{ viewer { role } }"


def _headers(api: Api, accept: str | None = None, **more: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {api.key}", **more}
    if accept is not None:
        headers["Accept"] = accept
    return headers


async def _post(api: Api, body: Any, accept: str | None = None) -> httpx.Response:
    return await api.client.post("/graphql", json=body, headers=_headers(api, accept))


def _codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


# ------------------------------------------------------------------ media types


@pytest.mark.parametrize(
    ("accept", "media"),
    [
        (GR_JSON, GR_JSON),
        ("application/json", "application/json"),
        ("*/*", "application/json"),
        (None, "application/json"),
        (f"application/json;q=0.5, {GR_JSON}", GR_JSON),
        (f"application/json, {GR_JSON};q=0.1", "application/json"),
    ],
)
async def test_the_answer_has_the_media_type_asked_for(
    api: Api, accept: str | None, media: str
) -> None:
    # when a query is posted accepting that type
    response = await _post(api, {"query": VIEWER}, accept)

    # then it is answered, in that type, in UTF-8
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == media
    assert response.json()["data"] == {"viewer": {"role": "ADMIN"}}


@pytest.mark.parametrize(
    ("query", "variables", "code"),
    [
        ("{ viewer { role }", None, "GRAPHQL_PARSE_FAILED"),
        ("{ nope }", None, "GRAPHQL_VALIDATION_FAILED"),
        ("query($id: ID!) { segment(id: $id) { id } }", {"id": {"x": 1}}, "BAD_USER_INPUT"),
        ("query($id: ID!) { segment(id: $id) { id } }", {}, "BAD_USER_INPUT"),
    ],
    ids=["parse", "validation", "variable-type", "variable-missing"],
)
async def test_request_errors_are_400_without_data_in_graphql_response_json(
    api: Api, query: str, variables: dict[str, Any] | None, code: str
) -> None:
    # when a request that cannot run is posted accepting graphql-response+json
    response = await _post(api, {"query": query, "variables": variables}, GR_JSON)

    # then it is a 400, with no data entry, and the error's code
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(GR_JSON)
    body = response.json()
    assert "data" not in body
    assert _codes(body) == [code]


@pytest.mark.parametrize(
    ("query", "code"),
    [("{ viewer { role }", "GRAPHQL_PARSE_FAILED"), ("{ nope }", "GRAPHQL_VALIDATION_FAILED")],
)
async def test_request_errors_stay_200_with_data_null_in_application_json(
    api: Api, query: str, code: str
) -> None:
    # when the same request is posted by a client of application/json
    response = await _post(api, {"query": query}, "application/json")

    # then it is answered as before: 200, data null, the error with its code
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None
    assert _codes(body) == [code]


async def test_a_field_error_keeps_200_and_data_in_graphql_response_json(api: Api) -> None:
    # when a query whose field fails (no key) is posted
    response = await api.client.post(
        "/graphql", json={"query": "{ segments { totalCount } }"}, headers={"Accept": GR_JSON}
    )

    # then it executed: 200 with the data entry
    assert response.status_code == 200
    body = response.json()
    assert "data" in body
    assert _codes(body) == ["UNAUTHENTICATED"]


# ------------------------------------------------------------------ GET


async def test_get_runs_a_query(api: Api) -> None:
    response = await api.client.get(
        "/graphql", params={"query": VIEWER}, headers=_headers(api, GR_JSON)
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"viewer": {"role": "ADMIN"}}


async def test_get_with_variables_and_extensions(api: Api) -> None:
    response = await api.client.get(
        "/graphql",
        params={
            "query": "query($id: ID!) { segment(id: $id) { id } }",
            "variables": '{"id": "999"}',
            "extensions": "{}",
        },
        headers=_headers(api),
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"segment": None}


async def test_a_mutation_over_get_is_405(api: Api) -> None:
    # when a mutation is sent with GET
    response = await api.client.get(
        "/graphql",
        params={"query": 'mutation { deleteSegment(id: "1") { deletedId } }'},
        headers=_headers(api, GR_JSON),
    )

    # then it is refused as a method not allowed, naming POST
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert _codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_a_subscription_over_http_is_a_coded_error(api: Api) -> None:
    # when a subscription is posted over HTTP
    response = await _post(api, {"query": "subscription { segmentEvents { kind } }"})

    # then the caller is told where subscriptions are, with a code; nothing internal
    assert response.status_code == 400
    body = response.json()
    assert _codes(body) == ["SUBSCRIPTION_NOT_SUPPORTED_OVER_HTTP"]
    assert "WebSocket" in body["errors"][0]["message"]


# ------------------------------------------------------------------ malformed requests


@pytest.mark.parametrize(
    "body", [b"42", b'"x"', b"null", b"[1]", b"{", b"\xff\xfe{}", b""], ids=repr
)
async def test_a_body_that_is_not_a_graphql_request_is_a_coded_400(api: Api, body: bytes) -> None:
    # when a body that is no JSON object (or not JSON, or not UTF-8) is posted
    response = await api.client.post(
        "/graphql",
        content=body,
        headers=_headers(api, None, **{"Content-Type": "application/json"}),
    )

    # then it is a 400 with a GraphQL-shaped body and a code, never a 500
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors[0]["extensions"]["code"] == "BAD_REQUEST"
    assert errors[0]["message"]


DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("long_number", [False, True], ids=["orjson", "standard parser"])
async def test_json_nested_too_deeply_is_a_coded_400(api: Api, long_number: bool) -> None:
    # when variables nest 10,000 arrays (a number past 64 bits has the standard parser read it)
    number = ', "n": 123456789012345678901234' if long_number else ""
    body = '{"query": "{ viewer { role } }", "variables": {"a": ' + DEEP + number + "}}"
    response = await api.client.post(
        "/graphql",
        content=body,
        headers=_headers(api, None, **{"Content-Type": "application/json"}),
    )

    # then it is a 400 saying so, never a 500 (RecursionError)
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("The request body is nested too deeply")


@pytest.mark.parametrize("name", ["variables", "extensions"])
@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("{nope", "Unable to parse the {name} query parameter as JSON"),
        ("[1]", "The {name} query parameter must be a JSON object"),
        ("5", "The {name} query parameter must be a JSON object"),
        ("null", "The {name} query parameter must be a JSON object"),
        (DEEP, "The {name} query parameter is nested too deeply"),
    ],
    ids=["not JSON", "array", "number", "null", "nested too deeply"],
)
async def test_a_get_parameter_that_is_no_json_object_is_named(
    api: Api, name: str, value: str, said: str
) -> None:
    # when a GET's variables or extensions is not JSON, or not a JSON object
    response = await api.client.get(
        "/graphql", params={"query": VIEWER, name: value}, headers=_headers(api)
    )

    # then it is a coded 400 whose message names the parameter
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith(said.format(name=name)), error["message"]


@pytest.mark.parametrize("query", [42, True, ["{ viewer { role } }"], {"a": 1}])
async def test_a_query_that_is_not_a_string_is_a_coded_400(api: Api, query: Any) -> None:
    response = await _post(api, {"query": query}, GR_JSON)
    assert response.status_code == 400
    assert _codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize("name", [{"a": 1}, 42, True, ["x"]])
async def test_an_operation_name_that_is_not_a_string_is_a_coded_400(api: Api, name: Any) -> None:
    response = await _post(api, {"query": VIEWER, "operationName": name}, GR_JSON)
    assert response.status_code == 400
    assert _codes(response.json()) == ["BAD_REQUEST"]


@pytest.mark.parametrize(
    "content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8", "application/Json;a=B"]
)
async def test_the_media_type_is_case_insensitive(api: Api, content_type: str) -> None:
    # when application/json is written in other cases (RFC 9110: type and subtype are
    # case-insensitive), for a document of the general executor and a planned one, twice
    planned = '{ isMember(segmentId: "1", memberId: "nobody") }'
    answers = [
        await api.client.post(
            "/graphql",
            content=orjson.dumps({"query": query}),
            headers=_headers(api, None, **{"Content-Type": content_type}),
        )
        for query in (VIEWER, planned, planned)
    ]

    # then each is read as JSON, as with application/json
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].json()["data"] == {"viewer": {"role": "ADMIN"}}
    assert answers[1].json() == answers[2].json()
    assert [e["extensions"]["code"] for e in answers[1].json()["errors"]] == ["NOT_FOUND"]


async def test_no_content_type_is_415(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b'{"query": "{ viewer { role } }"}', headers=_headers(api)
    )
    assert response.status_code == 415
    assert _codes(response.json()) == ["UNSUPPORTED_MEDIA_TYPE"]


async def test_unknown_paths_and_methods_are_graphql_shaped(api: Api) -> None:
    missing = await api.client.get("/nowhere")
    assert missing.status_code == 404
    assert _codes(missing.json()) == ["NOT_FOUND"]
    put = await api.client.put("/graphql", json={"query": VIEWER})
    assert put.status_code == 405
    assert _codes(put.json()) == ["METHOD_NOT_ALLOWED"]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/graphql", {"GET", "HEAD", "POST"}),
        ("DELETE", "/graphql", {"GET", "HEAD", "POST"}),
        ("POST", "/export/segments/1/members.csv", {"GET", "HEAD"}),
        ("POST", "/metrics", {"GET", "HEAD"}),
        ("POST", "/healthz", {"GET", "HEAD"}),
    ],
)
async def test_a_405_names_the_methods_the_path_takes(
    api: Api, method: str, path: str, allowed: set[str]
) -> None:
    # when a path is asked with a method it does not take
    response = await api.client.request(method, path, headers=_headers(api))

    # then the 405 says which it takes (RFC 9110 asks for Allow), with a code
    assert response.status_code == 405
    assert {m.strip() for m in response.headers["allow"].split(",")} == allowed
    assert _codes(response.json()) == ["METHOD_NOT_ALLOWED"]


async def test_head_is_get_without_the_body(api: Api) -> None:
    # when the GraphiQL page and a query are asked with HEAD, as with GET
    page = {"Accept": "text/html"}
    query = {"query": VIEWER}
    head_page = await api.client.head("/graphql", headers=page)
    get_page = await api.client.get("/graphql", headers=page)
    head_query = await api.client.head("/graphql", params=query, headers=_headers(api))
    get_query = await api.client.get("/graphql", params=query, headers=_headers(api))

    # then each answers as GET does (the Allow of a 405 names HEAD: it is taken)
    assert (head_page.status_code, get_page.status_code) == (200, 200)
    assert head_page.headers["content-type"] == get_page.headers["content-type"]
    assert (head_query.status_code, get_query.status_code) == (200, 200)
    assert head_query.headers["content-type"] == get_query.headers["content-type"]


async def test_a_bad_key_is_a_graphql_shaped_401(api: Api) -> None:
    response = await api.client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Bearer seg_nope"}
    )
    assert response.status_code == 401
    assert _codes(response.json()) == ["UNAUTHENTICATED"]
