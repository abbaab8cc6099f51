"""The JSON lines of app.logs: one object per record, in a fixed shape (level, logger,
message, the traceback, the record's extra fields, time), whatever the record holds."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import logging
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from asgi_correlation_id import CorrelationIdFilter
from asgi_correlation_id.context import correlation_id

from app.http import access_log, state
from app.logs import formatter
from tests.factories import Api

CREATED = 1764561600.25  # 2025-12-01T04:00:00.25 UTC


class Colour(enum.Enum):
    RED = "red"
    BLUE = 2


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        return "Unprintable()"


class Unshowable(Unprintable):
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _record(
    msg: Any = "plain",
    args: Any = (),
    *,
    level: int = logging.INFO,
    name: str = "segments.test",
    exc: BaseException | None = None,
    stack_info: str | None = None,
    extra: dict[str, Any] | None = None,
) -> logging.LogRecord:
    """A record as logger.log(...) makes it, with the request id filter of app.logs applied."""
    exc_info = None
    if exc is not None:
        try:
            raise exc
        except BaseException:
            exc_info = sys.exc_info()
    record = logging.getLogger(name).makeRecord(
        name, level, "file.py", 7, msg, args, exc_info, "func", extra, stack_info
    )
    record.created = CREATED
    CorrelationIdFilter(uuid_length=None, default_value=None).filter(record)
    return record


def _access_record() -> logging.LogRecord:
    """The access line of a request, as app.http.access_log writes it."""
    captured: list[logging.LogRecord] = []
    log = logging.getLogger("segments.access")

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    keep = Keep()
    keep.addFilter(CorrelationIdFilter(uuid_length=None, default_value=None))
    log.addHandler(keep)
    level, log.level = log.level, logging.INFO
    token = correlation_id.set("req-1")
    try:
        info = state.RequestInfo()
        info.operation, info.site, info.key = "MemberSegments", "acme", "bench"
        info.error_codes, info.cost = ["THROTTLED"], 3
        access_log.write({"type": "http", "method": "POST", "path": "/graphql"}, 429, 0.00042, info)
    finally:
        correlation_id.reset(token)
        log.level = level
        log.removeHandler(keep)
    (record,) = captured
    record.created = CREATED
    return record


def _traceback() -> Any:
    try:
        raise KeyError("k")
    except KeyError as error:
        return error.__traceback__


def _chained() -> BaseException:
    error = RuntimeError("outer")
    error.__cause__ = KeyError("inner")
    return error


# representative records of every kind the service logs, and odd values in extra fields
RECORDS: dict[str, Callable[[], logging.LogRecord]] = {
    "plain": lambda: _record(),
    "args": lambda: _record("%s took %d ms", ("sweep", 12)),
    "warning": lambda: _record("pool %s", ("low",), level=logging.WARNING, name="uvicorn.error"),
    "extra": lambda: _record(
        "membership sweep", extra={"expired": 3, "clocked": 0, "pruned": 1, "skipped": []}
    ),
    "access line": _access_record,
    "exception": lambda: _record(
        "internal error %s",
        ("abc",),
        level=logging.ERROR,
        exc=ValueError("boom"),
        extra={"error_id": "e1", "traceback": ["a", "b"]},
    ),
    "chained exception": lambda: _record("failed", level=logging.ERROR, exc=_chained()),
    "stack": lambda: _record("here", stack_info="Stack (most recent call last):\n  line"),
    "unicode": lambda: _record(
        "façade ✓ %s", ("日本語",), extra={"name_ü": "Zoë 🚀", "quote": 'a "b"\n\tc\\'}
    ),
    "odd types": lambda: _record(
        "odd",
        extra={
            "a_set": {1},
            "a_decimal": decimal.Decimal("1.10"),
            "a_datetime": datetime.datetime(2025, 1, 2, 3, 4, 5, 6, tzinfo=datetime.UTC),
            "a_naive_datetime": datetime.datetime(2025, 1, 2, 3, 4, 5),
            "a_date": datetime.date(2025, 1, 2),
            "a_uuid": uuid.UUID(int=1),
            "bytes": b"\x00\xff ok",
            "a_bytearray": bytearray(b"xy"),
            "an_enum": Colour.BLUE,
            "an_enum_class": Colour,
            "an_exception": ValueError("bad"),
            "a_traceback": _traceback(),
            "a_class": Unprintable,
            "unprintable": Unprintable(),
            "unshowable": Unshowable(),
            "a_tuple": (1, "2", None),
            "int_keys": {1: "one", None: "none"},
            "floats": [1.5, float("inf"), float("nan")],
            "big": 2**62,
        },
    ),
    "underscored and clashing": lambda: _record(
        "clash", extra={"_private": 1, "time": "mine", "level": "mine", "request_id": "mine"}
    ),
    "dict message": lambda: _record({"event": "hello", "n": 1, "levelname": "renamed"}),
    "dict message with exception": lambda: _record(
        {"event": "oops"}, level=logging.ERROR, exc=OSError("disk")
    ),
    "exc_text only": lambda: _with(_record("cached"), exc_text="Traceback: cached"),
    "request id": lambda: _with(_record("inside"), correlation_id="c0ffee"),
}


def _with(record: logging.LogRecord, **attrs: Any) -> logging.LogRecord:
    record.__dict__.update(attrs)
    return record


T = '"time":"2025-12-01T04:00:00.250000+00:00"'
HEAD = '{"level":"INFO","logger":"segments.test",'
PINNED = {
    "plain": HEAD + '"message":"plain","request_id":null,' + T + "}",
    "args": HEAD + '"message":"sweep took 12 ms","request_id":null,' + T + "}",
    "extra": HEAD + '"message":"membership sweep","expired":3,"clocked":0,"pruned":1,'
    '"skipped":[],"request_id":null,' + T + "}",
    "access line": '{"level":"INFO","logger":"segments.access","message":"POST /graphql 429",'
    '"method":"POST","path":"/graphql","status":429,"duration_ms":0.42,'
    '"operation":"MemberSegments","site":"acme","key":"bench","error_codes":["THROTTLED"],'
    '"cost":3,"request_id":"req-1",' + T + "}",
    "unicode": HEAD
    + '"message":"façade ✓ 日本語","name_ü":"Zoë 🚀","quote":"a \\"b\\"\\n\\tc\\\\",'
    '"request_id":null,' + T + "}",
    "underscored and clashing": '{"level":"mine","logger":"segments.test","message":"clash",'
    + T
    + ',"request_id":null}',
    "dict message": '{"level":"renamed","logger":"segments.test","message":"","event":"hello",'
    '"n":1,"request_id":null,' + T + "}",
    "request id": HEAD + '"message":"inside","request_id":"c0ffee",' + T + "}",
    "exc_text only": HEAD + '"message":"cached","exc_info":"Traceback: cached",'
    '"request_id":null,' + T + "}",
    "stack": HEAD + '"message":"here","stack_info":"Stack (most recent call last):\\n  line",'
    '"request_id":null,' + T + "}",
}


@pytest.mark.parametrize("kind", list(PINNED))
def test_the_line_of_each_kind_of_record(kind: str) -> None:
    # the level, logger, message, traceback or stack, the extra fields in their order
    # (correlation_id as request_id, "_" names left out), then the time in UTC
    assert formatter().format(RECORDS[kind]()) == PINNED[kind]


def test_odd_values_are_written_as_text() -> None:
    line = formatter().format(RECORDS["odd types"]())

    assert "\n" not in line
    fields = json.loads(line)
    assert list(fields)[:3] == ["level", "logger", "message"]
    assert list(fields)[-2:] == ["request_id", "time"]
    assert fields["a_traceback"].startswith('File "')
    assert fields["a_traceback"].endswith('raise KeyError("k")')
    del fields["a_traceback"]
    assert fields == {
        "level": "INFO",
        "logger": "segments.test",
        "message": "odd",
        "a_set": "{1}",
        "a_decimal": "1.10",
        "a_datetime": "2025-01-02T03:04:05.000006+00:00",
        "a_naive_datetime": "2025-01-02T03:04:05",
        "a_date": "2025-01-02",
        "a_uuid": "00000000-0000-0000-0000-000000000001",
        "bytes": "AP8gb2s=",
        "a_bytearray": "eHk=",
        "an_enum": 2,
        "an_enum_class": ["red", 2],
        "an_exception": "ValueError: bad",
        "a_class": "Unprintable",
        "unprintable": "Unprintable()",
        "unshowable": "__could_not_encode__",
        "a_tuple": [1, "2", None],
        "int_keys": {"1": "one", "null": "none"},
        "floats": [1.5, None, None],
        "big": 2**62,
        "request_id": None,
        "time": "2025-12-01T04:00:00.250000+00:00",
    }


@pytest.mark.parametrize("kind", ["exception", "chained exception", "dict message with exception"])
def test_a_traceback_is_the_exc_info_field(kind: str) -> None:
    line = formatter().format(RECORDS[kind]())

    assert "\n" not in line
    fields = json.loads(line)
    assert "Traceback (most recent call last):\n" in fields["exc_info"]
    assert fields["level"] == "ERROR" and fields["time"] == "2025-12-01T04:00:00.250000+00:00"
    if kind == "exception":
        assert list(fields)[3] == "exc_info"
        assert fields["exc_info"].endswith("\nValueError: boom")
        assert list(fields)[4:] == ["error_id", "traceback", "request_id", "time"]
    elif kind == "chained exception":
        assert fields["exc_info"].startswith("KeyError: 'inner'\n\nThe above exception")
        assert fields["exc_info"].endswith("RuntimeError: outer")
    else:
        # the dict's keys, then the traceback
        assert list(fields)[2:5] == ["message", "event", "exc_info"]
        assert fields["message"] == "" and fields["event"] == "oops"
        assert fields["exc_info"].endswith("OSError: disk")


def test_a_record_of_a_new_shape_after_many() -> None:
    # the formatter keeps the extra fields of the shapes of record it met, up to a bound;
    # records of shapes past it are written alike
    shape = formatter()
    for n in range(300):
        record = _record("n", extra={f"field_{n}": n})
        assert json.loads(shape.format(record))[f"field_{n}"] == n
    assert shape.format(RECORDS["extra"]()) == PINNED["extra"]


async def test_a_malformed_request_id_adds_no_warning_but_the_access_line(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="segments.access")
    # when requests come with an X-Request-Id that is not well formed
    answers = [
        await api.client.post(
            "/graphql",
            json={"query": "{ viewer { role } }"},
            headers={"Authorization": f"Bearer {api.key}", "X-Request-Id": "a b"},
        )
        for _ in range(3)
    ]

    # then no warning is logged for them
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # and each access line carries the id made for the request, the one echoed
    access = [r for r in caplog.records if r.name == "segments.access"]
    lines = [json.loads(formatter().format(r)) for r in access]
    assert [line["request_id"] for line in lines] == [a.headers["x-request-id"] for a in answers]
    assert all(a.headers["x-request-id"] != "a b" for a in answers)
