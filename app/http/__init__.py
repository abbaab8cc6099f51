"""HTTP around the GraphQL schema: the middleware, the GraphQL transport, the other routes.

From the outside in (app.main builds the stack in this order):

- ``front``: a planned GraphQL POST served in one layer (what the next four give it, then its
  plan); any other request passes on, and one whose document has no plan goes on marked,
  those layers passing it through;
- ``observe``: one layer for what every request gets: its ``request_id`` (X-Request-Id kept
  when well formed, made otherwise, echoed), then its ``metrics`` (counts and latencies by
  operation and outcome) and its ``access_log`` line (what the inner layers learnt: ``state``);
- CORS (Starlette's, when configured), ``app.resilience`` (deadline and outage: 503),
  ``compression`` (starlette-compress);
- ``auth``: body size limits (413) and the bearer key (401);
- the routes: ``graphql`` (GraphQL over HTTP and WebSocket), ``graphiql``, exports, health.

``errors`` holds the GraphQL-shaped error body and the one error-code to HTTP-status mapping.
"""
