"""Request errors over graphql-transport-ws: a document that does not parse, and one of
several operations without operationName, get an ``error`` message with a code; errors in
``error`` and ``next`` messages carry codes as HTTP answers do (suggestions hidden likewise);
a message nested too deeply, or a subscribe message of the wrong shape, closes with 4400."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from httpx_ws import WebSocketDisconnect
from prometheus_client import REGISTRY

from app.main import create_app
from app.settings import get_settings
from tests.factories import Api
from tests.live.support import asgi_ws

TWO = 'mutation M { upsertMembers(members: [{id: "ws1"}]) { created } } query Q { viewer { role } }'


async def _refused(app: Any, api: Api, query: str) -> list[dict[str, Any]]:
    """Subscribe ``query`` as id 1: the errors of the error message it must get; then the
    connection must still serve (TWO with operationName Q, as id 2)."""
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(query)
        message = await ws.message()
        assert (message["type"], message["id"]) == ("error", "1"), message
        await ws.ws.send_json(
            {"id": "2", "type": "subscribe", "payload": {"query": TWO, "operationName": "Q"}}
        )
        assert (await ws.message())["payload"]["data"] == {"viewer": {"role": "ADMIN"}}
    errors: list[dict[str, Any]] = message["payload"]
    return errors


def _codes(errors: list[dict[str, Any]]) -> list[str]:
    return [e["extensions"]["code"] for e in errors]


@pytest.mark.parametrize("query", ["subscription { ", "this is not graphql"])
async def test_a_document_that_does_not_parse_gets_an_error_message(
    app: Any, api: Api, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    # when a document that does not parse is subscribed: an error with the parse code
    assert _codes(await _refused(app, api, query)) == ["GRAPHQL_PARSE_FAILED"]
    # and no traceback is logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_several_operations_without_operation_name_get_an_error_message(
    app: Any, api: Api
) -> None:
    # when a document of two operations is subscribed without operationName: an error
    [error] = await _refused(app, api, TWO)
    assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
    assert "operationName" in error["message"]
    # and the mutation did not run
    data = await api.query('{ member(id: "ws1") { id } }')
    assert data["member"] is None


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("subscription A { membershipChanges { id } }", "Z"),
        (TWO, "anonymous"),
        ("{ viewer { role } }", "Q"),
    ],
    ids=["one-named", "two-named", "one-anonymous"],
)
async def test_an_operation_name_the_document_does_not_hold_gets_an_error_message(
    app: Any, api: Api, query: str, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        # when a document is subscribed with an operationName naming none of its operations
        await ws.ws.send_json(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "operationName": name}}
        )

        # then an error message says so with the code HTTP gives it (not INTERNAL)
        message = await ws.message()
        assert (message["type"], message["id"]) == ("error", "1"), message
        [error] = message["payload"]
        assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
        assert error["message"] == f'Unknown operation named "{name}".'
    # and no traceback is logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # as over HTTP
    answer = await api.client.post(
        "/graphql",
        json={"query": query, "operationName": name},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    assert answer.json()["errors"][0]["message"] == error["message"]


async def test_a_document_over_the_token_limit_gets_an_error_message(app: Any, api: Api) -> None:
    fields = " ".join("__typename" for _ in range(get_settings().max_tokens))
    assert _codes(await _refused(app, api, f"{{ {fields} }}")) == ["MAX_TOKENS_EXCEEDED"]


def _errors_counted(code: str) -> float:
    return REGISTRY.get_sample_value("segments_graphql_errors_total", {"code": code}) or 0.0


async def test_errors_sent_over_the_websocket_are_counted_by_code(app: Any, api: Api) -> None:
    parse, not_found = _errors_counted("GRAPHQL_PARSE_FAILED"), _errors_counted("NOT_FOUND")
    # when a document that does not parse is subscribed (an error message)
    await _refused(app, api, "subscription { ")
    # and a query whose result carries an error (a next message with errors)
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe('{ explainMembership(segmentId: "none", memberId: "m") { isMember } }')
        message = await ws.message()
    assert message["type"] == "next", message
    assert [e["extensions"]["code"] for e in message["payload"]["errors"]] == ["NOT_FOUND"]
    # then each is counted in segments_graphql_errors_total, as an HTTP answer's errors are
    assert _errors_counted("GRAPHQL_PARSE_FAILED") == parse + 1
    assert _errors_counted("NOT_FOUND") == not_found + 1


async def _closed_with(app: Any, api: Api, text: str) -> tuple[int, str]:
    """Send ``text`` as a message after connection_ack: the code and reason of the close it
    must bring."""
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.ws.send_text(text)
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.message(within=5)
    return int(closed.value.code), str(closed.value.reason)


async def test_a_message_nested_too_deeply_closes_with_4400(
    app: Any, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # when a subscribe message's variables nest 10,000 arrays
    deep = "[" * 10_000 + "]" * 10_000
    text = (
        '{"id": "1", "type": "subscribe",'
        ' "payload": {"query": "{ viewer { role } }", "variables": {"a": ' + deep + "}}}"
    )
    # then the socket is closed with 4400 saying why (not 1011 with a RecursionError)
    code, reason = await _closed_with(app, api, text)
    assert code == 4400
    assert reason.startswith("WebSocket message is nested too deeply")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize(
    ("payload", "said"),
    [
        ('"{ viewer { role } }"', "payload must be an object"),
        ('{"query": 5}', "payload.query must be a string"),
        ('{"variables": {}}', "payload.query must be a string"),
        ('{"query": "{ viewer { role } }", "variables": [1]}', "payload.variables must be"),
        ('{"query": "{ viewer { role } }", "variables": "x"}', "payload.variables must be"),
        ('{"query": "{ viewer { role } }", "extensions": 5}', "payload.extensions must be"),
        ('{"query": "{ viewer { role } }", "operationName": 5}', "payload.operationName must"),
    ],
)
async def test_a_subscribe_message_of_the_wrong_shape_closes_with_4400(
    app: Any, api: Api, payload: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    text = '{"id": "1", "type": "subscribe", "payload": ' + payload + "}"
    code, reason = await _closed_with(app, api, text)
    assert code == 4400
    assert reason.startswith(f"Invalid subscribe message: {said}"), reason
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_variables_that_cannot_be_coerced_have_a_code(app: Any, api: Api) -> None:
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        # when a query's variable cannot be coerced (a next message with errors)
        await ws.subscribe("query($n: Int!) { segments(first: $n) { totalCount } }", {"n": "a"})
        answered = await ws.message()
        assert (await ws.message())["type"] == "complete"
        # and a subscription's (an error message)
        await ws.subscribe(
            "subscription($s: ID) { segmentEvents(segmentId: $s) { id } }", {"s": [1]}, op="2"
        )
        subscribed = await ws.message()
    # then each error has the code an HTTP answer gives it
    assert answered["type"] == "next", answered
    assert _codes(answered["payload"]["errors"]) == ["BAD_USER_INPUT"]
    assert (subscribed["type"], subscribed["id"]) == ("error", "2"), subscribed
    assert _codes(subscribed["payload"]) == ["BAD_USER_INPUT"]
    http = await api.raw("query($n: Int!) { segments(first: $n) { totalCount } }", {"n": "a"})
    assert _codes(http["errors"]) == ["BAD_USER_INPUT"]


async def test_with_introspection_off_nothing_is_suggested_over_the_websocket(api: Api) -> None:
    # given a server with introspection off
    app = create_app(get_settings().model_copy(update={"introspection": False}), init_orm=False)
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        # when a field is misspelt in a query, and an enum value in a query's variables
        await ws.subscribe("{ segmnts { totalCount } }")
        misspelt = await ws.message()
        await ws.subscribe(
            "query($s: SegmentStatusFilter) { segments(status: $s) { totalCount } }",
            {"s": "ACTIV"},
            op="2",
        )
        enum = await ws.message()
    # then the errors say what is unknown, and name nothing of the schema
    assert misspelt["type"] == "error", misspelt
    [error] = misspelt["payload"]
    assert "segmnts" in error["message"] and "Did you mean" not in error["message"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    errors = enum["payload"]["errors"] if enum["type"] == "next" else enum["payload"]
    assert errors and all("Did you mean" not in e["message"] for e in errors), errors
    assert "ACTIV" in errors[0]["message"]


@pytest.mark.parametrize("text", ["[1, 2]", "null", "5", '"connection_init"', "true"])
async def test_a_message_that_is_json_but_no_object_closes_with_4400(
    app: Any, api: Api, text: str, caplog: pytest.LogCaptureFixture
) -> None:
    # when, after the connection is acknowledged, a message is JSON but not an object
    code, reason = await _closed_with(app, api, text)

    # then the socket is closed with 4400 saying why, as for one that is not JSON (not 1011
    # after a TypeError, logged as "Exception in ASGI application" with a traceback)
    assert code == 4400
    assert reason == "WebSocket message must be a JSON object"
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_first_message_that_is_json_but_no_object_closes_with_4400(
    app: Any, api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    async with asgi_ws(app) as ws:
        # when the first message, where connection_init is expected, is a JSON array
        await ws.ws.send_text("[]")
        with pytest.raises(WebSocketDisconnect) as closed:
            await ws.message(within=5)
    assert (closed.value.code, closed.value.reason) == (
        4400,
        "WebSocket message must be a JSON object",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
