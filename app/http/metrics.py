"""Request metrics (counted by ``app.http.observe``) and GET /metrics (prometheus-client's
ASGI app, after the gauges read at scrape time have been refreshed)."""

from __future__ import annotations

import logging
import re
from typing import Any

from prometheus_client import make_asgi_app
from starlette.types import Receive, Scope, Send
from tortoise import Tortoise

from app import metrics
from app.db import fetch, is_postgres
from app.http import state
from app.live.broker import broker

log = logging.getLogger("segments.metrics")

# operation names come from clients: past this many distinct ones, the rest count as "other"
_MAX_OPERATIONS = 500
_operations: set[str] = set()
_ROUTES = {"/graphql": "anonymous", "/healthz": "healthz", "/readyz": "readyz"}
# a label is a GraphQL name a site's key ran: a request without a valid key, refused before it
# ran, or whose name its document does not hold is not let name a series (anyone can send
# one, and each new name is a series kept until the process ends)
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")
_UNRAN = frozenset(
    {
        "UNAUTHENTICATED",
        "GRAPHQL_PARSE_FAILED",
        "GRAPHQL_VALIDATION_FAILED",
        "OPERATION_RESOLUTION_FAILURE",
        "BAD_REQUEST",
    }
)


def _named(status: int, info: state.RequestInfo) -> str | None:
    name = info.operation
    if name is None or info.site is None or status >= 400 or not _NAME.fullmatch(name):
        return None
    if any(code in _UNRAN for code in info.error_codes):
        return None
    return name


def _operation(path: str, status: int, info: state.RequestInfo) -> str:
    if info.operation is not None:
        name = _named(status, info)
        if name is None:
            return "other"
        if name in _operations:
            return name
        if len(_operations) < _MAX_OPERATIONS:
            _operations.add(name)
            return name
        return "other"
    if path in _ROUTES:
        return _ROUTES[path]
    if path.startswith("/export/"):
        return "export"
    if path.startswith("/graphiql/"):
        return "graphiql"
    return "other"


def _outcome(status: int, info: state.RequestInfo) -> str:
    if status >= 500:
        return "server_error"
    if status >= 400:
        return "refused"
    return "error" if info.error_codes else "ok"


_children: dict[tuple[str, str], tuple[Any, Any]] = {}


def _observe(operation: str, outcome: str, seconds: float) -> None:
    # the labelled children are looked up once per (operation, outcome): labels() takes a lock
    pair = _children.get((operation, outcome))
    if pair is None:
        pair = _children[(operation, outcome)] = (
            metrics.REQUESTS.labels(operation, outcome),
            metrics.LATENCY.labels(operation, outcome),
        )
    pair[0].inc()
    pair[1].observe(seconds)


def count(path: str, status: int, info: state.RequestInfo, seconds: float) -> None:
    """Count and time one HTTP request (``app.http.observe``) by operation and outcome;
    /metrics itself is not counted."""
    if path == "/metrics":
        return
    _observe(_operation(path, status, info), _outcome(status, info), seconds)
    for code in info.error_codes:
        metrics.ERRORS.labels(code).inc()


def _behind_sql() -> str:
    """Enabled webhooks with recorded changes not yet delivered: a delivery still PENDING (to
    send, or failing and to be retried), or a change past the cursor in a segment it watches
    (segment_ids null: every segment of its site) or a deleted one whose last changes it has
    still to deliver."""
    watched = (
        "(w.segment_ids @> to_jsonb(c.segment_id)"
        " OR w.draining_segment_ids @> to_jsonb(c.segment_id))"
        if is_postgres()
        else "(c.segment_id IN (SELECT value FROM json_each(w.segment_ids))"
        " OR c.segment_id IN (SELECT value FROM json_each(w.draining_segment_ids)))"
    )
    return (
        "SELECT COUNT(*) AS n FROM webhooks w WHERE w.enabled AND ("
        "EXISTS (SELECT 1 FROM webhook_deliveries d"
        " WHERE d.webhook_id = w.id AND d.status = 'PENDING')"
        " OR EXISTS (SELECT 1 FROM membership_changes c"
        " WHERE c.site_id = w.site_id AND c.id > w.cursor"
        f" AND (w.segment_ids IS NULL OR {watched})))"
    )


async def _refresh() -> None:
    """The gauges of state kept elsewhere: read now, for this scrape."""
    metrics.LIVE_SUBSCRIBERS.set(broker.total_subscribers())
    try:
        connection = Tortoise.get_connection("default")
    except Exception:  # the database is not open (yet): nothing to read
        return
    pool = getattr(connection, "_pool", None)
    if pool is not None and hasattr(pool, "get_size"):  # asyncpg
        metrics.POOL_SIZE.set(pool.get_size())
        metrics.POOL_IN_USE.set(pool.get_size() - pool.get_idle_size())
    else:  # SQLite: one connection
        metrics.POOL_SIZE.set(1)
        metrics.POOL_IN_USE.set(0)
    try:
        jobs = await fetch("SELECT status, COUNT(*) AS n FROM import_jobs GROUP BY status")
        deliveries = await fetch(
            "SELECT status, COUNT(*) AS n FROM email_deliveries GROUP BY status"
        )
        hooks = await fetch("SELECT status, COUNT(*) AS n FROM webhook_deliveries GROUP BY status")
        behind = await fetch(_behind_sql())
    except Exception:  # a scrape must answer even when the database does not
        log.warning("metrics: the queue gauges could not be read", exc_info=True)
        return
    metrics.IMPORT_JOBS.clear()
    for row in jobs:
        metrics.IMPORT_JOBS.labels(str(row["status"])).set(row["n"])
    metrics.EMAIL_DELIVERIES.clear()
    for row in deliveries:
        metrics.EMAIL_DELIVERIES.labels(str(row["status"])).set(row["n"])
    metrics.WEBHOOK_DELIVERIES.clear()
    for row in hooks:
        metrics.WEBHOOK_DELIVERIES.labels(str(row["status"])).set(row["n"])
    metrics.WEBHOOKS_BEHIND.set(behind[0]["n"] if behind else 0)


_exposition = make_asgi_app()


class Endpoint:
    """GET /metrics: the Prometheus text format (an ASGI app, for a Route)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _refresh()
        await _exposition(scope, receive, send)


endpoint = Endpoint()
