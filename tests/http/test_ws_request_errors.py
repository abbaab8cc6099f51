"""Request errors over graphql-transport-ws get an ``error`` message with a code."""

from __future__ import annotations

from typing import Any

from tests.factories import Api
from tests.live.support import asgi_ws


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
