"""The service's Prometheus metrics (prometheus-client), in one place.

Counters and histograms move as requests and events happen; the gauges of state held
elsewhere (database pool, job and delivery queues, live subscribers) are read when
/metrics is scraped (app.http.metrics). Each process counts its own (see the README).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # the *_created samples double the exposition and say little

REQUESTS = Counter(
    "segments_http_requests",
    "HTTP requests by GraphQL operation name (or route) and outcome",
    ["operation", "outcome"],
)
LATENCY = Histogram(
    "segments_http_request_duration_seconds",
    "HTTP request latency by GraphQL operation name (or route) and outcome",
    ["operation", "outcome"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter("segments_graphql_errors", "GraphQL errors by extensions.code", ["code"])
POOL_SIZE = Gauge("segments_db_pool_size", "Database connections open in the pool")
POOL_IN_USE = Gauge("segments_db_pool_in_use", "Database connections of the pool in use")
IMPORT_JOBS = Gauge("segments_import_jobs", "Import jobs by status (all sites)", ["status"])
EMAIL_DELIVERIES = Gauge(
    "segments_email_deliveries", "Email deliveries by status (all sites)", ["status"]
)
LIVE_SUBSCRIBERS = Gauge("segments_live_subscribers", "Live subscriptions open in this process")
LIVE_DROPPED = Counter(
    "segments_live_dropped_events", "Live events dropped because a subscriber's queue was full"
)
WEBHOOK_ATTEMPTS = Counter(
    "segments_webhook_attempts",
    "Webhook delivery attempts by outcome (succeeded, failed: to be retried, disabled)",
    ["outcome"],
)
WEBHOOK_DELIVERIES = Gauge(
    "segments_webhook_deliveries", "Webhook deliveries by status (all sites)", ["status"]
)
WEBHOOKS_BEHIND = Gauge(
    "segments_webhooks_behind",
    "Enabled webhooks with membership changes not yet delivered (all sites)",
)
