"""Request errors over graphql-transport-ws: a document that does not parse, and one of
several operations without operationName, get an ``error`` message with a code."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from prometheus_client import REGISTRY

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
