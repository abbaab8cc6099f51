"""Request errors over graphql-transport-ws: a document that does not parse, and one of
several operations without operationName, get an ``error`` message with a code."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.factories import Api
from tests.live.support import asgi_ws


@pytest.mark.parametrize("query", ["subscription { ", "this is not graphql"])
async def test_a_document_that_does_not_parse_gets_an_error_message(
    app: Any, api: Api, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        # when a document that does not parse is subscribed
        await ws.subscribe(query)
        message = await ws.message()

        # then the answer is an error for that id, with the parse code
        assert message["type"] == "error", message
        assert message["id"] == "1"
        assert [e["extensions"]["code"] for e in message["payload"]] == ["GRAPHQL_PARSE_FAILED"]
        # and the connection still serves
        await ws.subscribe("{ viewer { role } }", op="2")
        assert (await ws.message())["payload"]["data"] == {"viewer": {"role": "ADMIN"}}
    # and no traceback is logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_several_operations_without_operation_name_get_an_error_message(
    app: Any, api: Api
) -> None:
    query = (
        'mutation M { upsertMembers(members: [{id: "ws1"}]) { created } }'
        " query Q { viewer { role } }"
    )
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        # when a document of two operations is subscribed without operationName
        await ws.subscribe(query)
        message = await ws.message()

        # then it is an error for that id, and nothing ran
        assert message["type"] == "error", message
        assert message["id"] == "1"
        [error] = message["payload"]
        assert error["extensions"]["code"] == "OPERATION_RESOLUTION_FAILURE"
        assert "operationName" in error["message"]

        # and with operationName the one named runs
        await ws.ws.send_json(
            {"id": "2", "type": "subscribe", "payload": {"query": query, "operationName": "Q"}}
        )
        assert (await ws.message())["payload"]["data"] == {"viewer": {"role": "ADMIN"}}
    data = await api.query('{ member(id: "ws1") { id } }')
    assert data["member"] is None


async def test_a_document_over_the_token_limit_gets_an_error_message(app: Any, api: Api) -> None:
    from app.settings import get_settings

    fields = " ".join("__typename" for _ in range(get_settings().max_tokens))
    async with asgi_ws(app) as ws:
        assert (await ws.init({"apiKey": api.key}))["type"] == "connection_ack"
        await ws.subscribe(f"{{ {fields} }}")
        message = await ws.message()
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["MAX_TOKENS_EXCEEDED"]
