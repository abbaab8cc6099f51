"""One log line per HTTP request, refusals (401, 413) included: method, path, status,
duration, and what the inner layers learnt (operation, site, key, error codes and ids)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from app.http import state

log = logging.getLogger("segments.access")


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        info = state.begin()
        seen = state.StatusSeen(send, default=0)
        try:
            await self.app(scope, receive, seen)
        except BaseException:
            seen.status = seen.status or 500
            raise
        finally:
            status = seen.status
            extra = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
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
            log.info("%s %s %s", scope["method"], scope["path"], status, extra=extra)
