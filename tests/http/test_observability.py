"""Operations: /metrics in the Prometheus text format, one JSON log line per request with the
request id and operation name (200, 401, 413 alike), and a client's X-Request-Id kept."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest

from app.logs import formatter
from app.settings import get_settings
from tests.factories import Api

NAMED = "query WhoAmI { viewer { role } }"


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample of the exposition (0 when it is not there)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        metric, _, rest = head.partition("{")
        if metric != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(value)
    return 0.0


async def test_metrics_move_after_requests(api: Api) -> None:
    # given the figures before
    before = (await api.client.get("/metrics")).text

    # when a named query runs and a document fails to parse
    await api.post(NAMED)
    await api.post("{ viewer {")

    # then the request counter and the latency histogram of that operation moved,
    # and the error counter counted the parse failure by its code
    after_response = await api.client.get("/metrics")
    assert after_response.status_code == 200
    assert after_response.headers["content-type"].startswith("text/plain")
    after = after_response.text
    for name in ("segments_http_requests_total", "segments_http_request_duration_seconds_count"):
        moved = _sample(after, name, operation="WhoAmI", outcome="ok") - _sample(
            before, name, operation="WhoAmI", outcome="ok"
        )
        assert moved == 1, name
    assert _sample(after, "segments_graphql_errors_total", code="GRAPHQL_PARSE_FAILED") > 0
    # the gauges read at scrape time are there too
    for name in (
        "segments_db_pool_size",
        "segments_db_pool_in_use",
        "segments_live_subscribers",
        "segments_live_dropped_events_total",
    ):
        assert f"\n{name}" in after, name
    assert "# TYPE segments_import_jobs gauge" in after
    assert "# TYPE segments_email_deliveries gauge" in after


def _records(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The access lines, as the JSON formatter writes them."""
    shape = formatter()
    lines = [shape.format(r) for r in caplog.records if r.name == "segments.access"]
    for line in lines:
        assert "\n" not in line
    return [json.loads(line) for line in lines]


async def test_access_lines_are_json_with_request_id_and_operation(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="segments.access")
    limit = get_settings().max_request_bytes

    # when a named query runs, a bad key is refused and a body is too large
    ok = await api.client.post(
        "/graphql",
        json={"query": NAMED, "operationName": "WhoAmI"},
        headers={"Authorization": f"Bearer {api.key}", "X-Request-Id": "client-id-42"},
    )
    refused = await api.client.post(
        "/graphql",
        json={"query": NAMED, "operationName": "WhoAmI"},
        headers={"Authorization": "Bearer seg_wrong"},
    )
    large = await api.client.post(
        "/graphql",
        content=b'{"operationName": "Big", "query": "' + b"x" * limit + b'"}',
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )

    # then each has a line with its status, request id and duration
    records = _records(caplog)
    by_status = {r["status"]: r for r in records[-3:]}
    assert set(by_status) == {200, 401, 413}
    assert by_status[200]["request_id"] == "client-id-42" == ok.headers["x-request-id"]
    assert by_status[200]["operation"] == "WhoAmI"
    assert by_status[200]["site"] == api.site.name and by_status[200]["key"]
    assert by_status[401]["request_id"] == refused.headers["x-request-id"]
    assert by_status[401]["error_codes"] == ["UNAUTHENTICATED"]
    assert by_status[401]["operation"] == "WhoAmI"
    assert by_status[413]["request_id"] == large.headers["x-request-id"]
    assert by_status[413]["error_codes"] == ["TOO_LARGE"]
    assert by_status[413]["operation"] == "Big"
    for record in by_status.values():
        assert record["logger"] == "segments.access" and record["level"] == "INFO"
        assert isinstance(record["duration_ms"], float)


async def test_a_malformed_request_id_is_replaced(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": NAMED},
        headers={"Authorization": f"Bearer {api.key}", "X-Request-Id": 'bad id" with quotes'},
    )
    assert response.headers["x-request-id"] != 'bad id" with quotes'
    assert re.fullmatch(r"[0-9a-f]+", response.headers["x-request-id"])


def test_a_traceback_is_a_field_of_one_line() -> None:
    # given a record of an error with its exception
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.getLogger("segments.errors").makeRecord(
            "segments.errors", logging.ERROR, __file__, 1, "internal error %s", ("abc",), None
        )
        import sys

        record.exc_info = sys.exc_info()

    # when it is formatted
    line = formatter().format(record)

    # then it is one JSON object whose exc_info holds the traceback
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "internal error abc"
    assert "ValueError: boom" in parsed["exc_info"]


async def test_a_planned_answer_logs_its_operation_and_cost(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    # given a hot lookup document named in its text only, and one named by operationName
    caplog.set_level(logging.INFO, logger="segments.access")
    document = 'query Planned { memberSegments(memberId: "nobody") { id } }'
    anonymous = '{ memberSegments(memberId: "nobody") { id } }'
    for _ in range(3):
        assert await api.query(document) == {"memberSegments": []}
    named = await api.client.post(
        "/graphql",
        json={"query": document, "operationName": "Planned"},
        headers={"Authorization": f"Bearer {api.key}"},
    )
    for _ in range(3):
        assert await api.query(anonymous) == {"memberSegments": []}
    # then the plan's access lines name the operation (none for the anonymous one) and cost
    assert named.json()["data"] == {"memberSegments": []}
    records = _records(caplog)
    assert [(r["operation"], r["cost"]) for r in records[-5:]] == [
        ("Planned", 1),
        ("Planned", 1),
        (None, 1),
        (None, 1),
        (None, 1),
    ]


async def test_only_names_a_key_ran_label_the_metrics(api: Api) -> None:
    # given names sent without a key, with a wrong key, not in their document, or too long
    # to be a name the service would keep
    anyone = {"authorization": ""}
    unran = [
        ("NoKeyProbe", {"query": "query NoKeyProbe { viewer { role } }"}, anyone),
        (
            "WrongKeyProbe",
            {"query": "query WrongKeyProbe { viewer { role } }"},
            {"authorization": "Bearer seg_wrong"},
        ),
        ("NotInDocument", {"query": NAMED, "operationName": "NotInDocument"}, {}),
        ("Long" + "x" * 200, {"query": f"query Long{'x' * 200} {{ viewer {{ role }} }}"}, {}),
    ]
    for _, body, headers in unran:
        await api.client.post("/graphql", json=body, headers=headers)
    # and a name the site's key ran
    await api.post("query KeptName { viewer { role } }")

    # then only the name that ran is a label; the others counted as "other"
    text = (await api.client.get("/metrics")).text
    assert _sample(text, "segments_http_requests_total", operation="KeptName") == 1
    for name, _, _ in unran:
        assert f'operation="{name}"' not in text, name
    others = sum(
        _sample(text, "segments_http_requests_total", operation="other", outcome=outcome)
        for outcome in ("ok", "error", "refused")
    )
    assert others >= len(unran)


def _hung_up_scope(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
    }


@pytest.mark.parametrize(
    ("keyed", "content_type"),
    [
        (True, b"application/json"),
        (False, b"application/json"),
        (True, b"multipart/form-data; boundary=xyz"),
    ],
    ids=["planned-layer", "whole-stack", "upload"],
)
async def test_a_client_that_hangs_up_mid_body_is_no_server_error(
    app: Any, api: Api, caplog: pytest.LogCaptureFixture, keyed: bool, content_type: bytes
) -> None:
    caplog.set_level(logging.INFO, logger="segments.access")
    before = (await api.client.get("/metrics")).text
    headers = [(b"content-type", content_type), (b"content-length", b"1000")]
    if keyed:
        headers.append((b"authorization", f"Bearer {api.key}".encode()))
    messages = [
        {"type": "http.request", "body": b'{"query": "{ viewer', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    # when a client sends part of a request's body and hangs up (a proxy's timeout, a
    # killed client): the ASGI server's receive says http.disconnect
    await app(_hung_up_scope(headers), receive, send)

    # then the request ends without an error escaping to the server (uvicorn would log
    # "Exception in ASGI application" with a traceback), and without a server error's answer
    answered = [m["status"] for m in sent if m["type"] == "http.response.start"]
    assert all(status < 500 for status in answered), answered

    # and it is counted and logged as the client's doing (499, as nginx says of a client
    # that closed its request), not as a server error
    after = (await api.client.get("/metrics")).text
    for outcome, moved in (("server_error", 0), ("refused", 1)):
        total = sum(
            _sample(after, "segments_http_requests_total", operation=op, outcome=outcome)
            - _sample(before, "segments_http_requests_total", operation=op, outcome=outcome)
            for op in ("anonymous", "other")
        )
        assert total == moved, outcome
    line = [r for r in _records(caplog) if r["path"] == "/graphql"][-1]
    assert line["status"] == (answered[0] if answered else 499)
