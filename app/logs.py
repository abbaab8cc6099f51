"""Logging: every record one JSON object on one line (python-json-logger, orjson), with the
request id of the request it belongs to; a traceback is a field ("exc_info"), not more lines.

Used by the app, by `segments serve` (uvicorn's own records too) and by the workers, which
log through the same root logger.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from asgi_correlation_id import CorrelationIdFilter
from pythonjsonlogger.orjson import OrjsonFormatter

_FIELDS = ["levelname", "name", "message"]
_RENAME = {
    "levelname": "level",
    "name": "logger",
    "correlation_id": "request_id",
}


class _JsonHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler this module installs (told apart from any other on the root logger)."""


def formatter() -> logging.Formatter:
    # timestamp="time": ISO 8601 in UTC with microseconds (and cheaper than asctime's strftime)
    return OrjsonFormatter(_FIELDS, rename_fields=_RENAME, timestamp="time")


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
    logging.getLogger("asgi_correlation_id").setLevel(logging.WARNING)
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
