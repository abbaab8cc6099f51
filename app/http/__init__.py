"""HTTP around the GraphQL schema: each middleware a module of its own.

From the outside in (app.main builds the stack in this order):

- ``request_id``: X-Request-Id kept when well formed, made otherwise, echoed (asgi-correlation-id);
- ``access_log``: one JSON line per request with what the inner layers learnt (``state``);
- ``metrics``: request counts and latencies by operation and outcome (prometheus-client);
- CORS and GZip: Starlette's own middleware;
- ``auth``: body size limits (413) and the bearer key (401);
- the routes: ``graphql`` (GraphQL over HTTP and WebSocket), ``graphiql``, exports, health.

``errors`` holds the GraphQL-shaped error body and the one error-code to HTTP-status mapping.
"""
