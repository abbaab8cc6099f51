"""One log line per HTTP request, refusals (401, 413) included: method, path, status,
duration, and what the inner layers learnt (operation, site, key, error codes and ids).
Written by ``app.http.observe`` when the request is over."""

from __future__ import annotations

import logging

from starlette.types import Scope

from app.http import state

log = logging.getLogger("segments.access")

# the status of a request whose client hung up before it was answered (nginx's 499, "client
# closed request"): the client's doing, so a refusal to the metrics, never a server error
CLIENT_CLOSED = 499


def write(scope: Scope, status: int, seconds: float, info: state.RequestInfo) -> None:
    """The request's access line (status 0: it ended without an answer)."""
    if not log.isEnabledFor(logging.INFO):
        return
    extra = {
        "method": scope["method"],
        "path": scope["path"],
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "operation": info.operation,
        "site": info.site,
        "key": info.key,
    }
    if info.error_codes:
        extra["error_codes"] = info.error_codes
    if info.error_ids:
        extra["error_ids"] = info.error_ids
    if info.cost is not None:
        extra["cost"] = info.cost
    # what log.info(..., extra=extra) makes (no caller is looked up: app.logs turns that off),
    # without its calls around it: a line per request
    record = logging.getLogRecordFactory()(
        log.name,
        logging.INFO,
        "(unknown file)",
        0,
        "%s %s %s",
        (scope["method"], scope["path"], status),
        None,
        "(unknown function)",
        None,
    )
    record.__dict__.update(extra)
    log.handle(record)
