"""Logging: every record one JSON object on one line (orjson), with the request id of the
request it belongs to; a traceback is a field ("exc_info"), not more lines.

Used by the app, by `segments serve` (uvicorn's own records too) and by the workers, which
log through the same root logger.
"""

from __future__ import annotations

import base64
import enum
import logging
import sys
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from operator import itemgetter
from types import TracebackType
from typing import Any

import orjson
from asgi_correlation_id import CorrelationIdFilter

_RENAME = {
    "levelname": "level",
    "name": "logger",
    "correlation_id": "request_id",
}
# a LogRecord's own attributes: never written as fields (the record's `extra` fields are)
_RECORD_ATTRS = frozenset(
    {
        "args",
        "asctime",
        "created",
        "exc_info",
        "exc_text",
        "filename",
        "funcName",
        "levelname",
        "levelno",
        "lineno",
        "module",
        "msecs",
        "message",
        "msg",
        "name",
        "pathname",
        "process",
        "processName",
        "relativeCreated",
        "stack_info",
        "thread",
        "threadName",
        *(["taskName"] if sys.version_info >= (3, 12) else []),
    }
)


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installs (told apart from any other on the root logger)."""


def _default(value: Any) -> Any:
    """A field orjson cannot write by itself: an exception as "Type: message", a traceback as
    its lines, bytes as URL-safe base64, an enum as its value (an enum class: their list), a
    class as its name, anything else as its str() (else its repr())."""
    if isinstance(value, BaseException):
        return f"{value.__class__.__name__}: {value}"
    if isinstance(value, TracebackType):
        return "".join(traceback.format_tb(value)).strip()
    if isinstance(value, bytes | bytearray):
        return base64.urlsafe_b64encode(value).decode("utf8")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, enum.EnumMeta):
        return [e.value for e in value]  # type: ignore[var-annotated]
    if isinstance(value, type):
        return value.__name__
    try:
        return str(value)
    except Exception:
        pass
    try:
        return repr(value)
    except Exception:
        pass
    return "__could_not_encode__"


# the extra fields of a shape of record: their names as written, and what picks their values
_Extras = tuple[tuple[Any, ...], Callable[[dict[Any, Any]], tuple[Any, ...]]]
_SHAPES = 256  # shapes of record kept (a few in practice); past that, worked out per record


def _extras(shape: tuple[Any, ...]) -> _Extras:
    keys = [
        key
        for key in shape
        if key not in _RECORD_ATTRS and not (hasattr(key, "startswith") and key.startswith("_"))
    ]
    names = tuple(_RENAME.get(key, key) for key in keys)
    if not keys:
        return names, lambda attrs: ()
    if len(keys) == 1:
        only = keys[0]
        return names, lambda attrs: (attrs[only],)
    return names, itemgetter(*keys)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `level`, `logger`, `message`, then `exc_info` (the
    traceback) and `stack_info` when there are, then the record's `extra` fields in the order
    they were set (`correlation_id` written as `request_id`, names starting with "_" left
    out), then `time` (ISO 8601 in UTC with microseconds). A dict logged as the message gives
    its keys as fields, and an empty message.

    The lines python-json-logger's OrjsonFormatter wrote with the settings this module gave it
    (levelname, name and message, renamed; timestamp "time"), without its generality: a walk
    of its options and a method call per field, ~5 µs of CPU on an access line, ~20 µs under
    load (py-spy); this one ~3.5 µs."""

    def __init__(self) -> None:
        super().__init__()
        self._extras: dict[tuple[Any, ...], _Extras] = {}

    def _add_fields(self, data: dict[Any, Any], record: logging.LogRecord) -> None:
        """The fields of a dict logged as the message, then the traceback and the stack."""
        fields: dict[Any, Any] = record.msg.copy() if isinstance(record.msg, dict) else {}
        if record.exc_info and not fields.get("exc_info"):
            fields["exc_info"] = self.formatException(record.exc_info)
        if not fields.get("exc_info") and record.exc_text:
            fields["exc_info"] = record.exc_text
        if record.stack_info and not fields.get("stack_info"):
            fields["stack_info"] = self.formatStack(record.stack_info)
        for key, value in fields.items():
            data[_RENAME.get(key, key)] = value

    def format(self, record: logging.LogRecord) -> str:
        attrs = record.__dict__
        msg = record.msg
        if isinstance(msg, dict):
            record.message = message = ""
        else:
            record.message = message = record.getMessage()
        data: dict[Any, Any] = {
            "level": attrs.get("levelname"),
            "logger": attrs.get("name"),
            "message": message,
        }
        if isinstance(msg, dict) or record.exc_info or record.exc_text or record.stack_info:
            self._add_fields(data, record)
        # the record's extra fields: which they are, and their names, depend only on the
        # names of the record's attributes in order, the same for every access line
        shape = tuple(attrs)
        extras = self._extras.get(shape)
        if extras is None:
            extras = _extras(shape)
            if len(self._extras) < _SHAPES:
                self._extras[shape] = extras
        names, pick = extras
        if names:
            data.update(zip(names, pick(attrs), strict=True))
        data["time"] = datetime.fromtimestamp(record.created, tz=UTC)
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS).decode()


def formatter() -> logging.Formatter:
    return JsonFormatter()


def configure(level: str = "INFO") -> None:
    """JSON lines on stderr for every logger; idempotent (the app may be built many times)."""
    # the records' thread, process and caller are never written: don't compute them (the
    # logging HOWTO's "Optimization"; an access line per request makes this matter)
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    root = logging.getLogger()
    root.setLevel(level.upper())
    if not any(isinstance(h, _JsonHandler) for h in root.handlers):
        handler = _JsonHandler(sys.stderr)
        handler.setFormatter(formatter())
        handler.addFilter(CorrelationIdFilter(uuid_length=None, default_value=None))
        root.addHandler(handler)
    logging.getLogger("tortoise").setLevel(logging.WARNING)
    # its "Generated new request ID" warning comes with every request whose X-Request-Id is
    # malformed: a client could fill the log with them (the access line has the new id)
    logging.getLogger("asgi_correlation_id").setLevel(logging.ERROR)
    # uvicorn's own loggers propagate to the root logger, and so are JSON lines too
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """A dictConfig for uvicorn that leaves its records to the JSON handler of the root logger."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {
            "uvicorn": {"level": level.upper(), "propagate": True},
            "uvicorn.error": {"level": level.upper(), "propagate": True},
            "uvicorn.access": {"level": "WARNING", "propagate": True},
        },
    }
