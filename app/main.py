"""The Starlette app: routes, middleware and lifespan (the middleware itself: app/http)."""

from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from tortoise.contrib.starlette import RegisterTortoise

from app import logs
from app.changes import sweeper
from app.db import fetch, tortoise_config
from app.email import worker as email_worker
from app.exports.routes import segment_members_csv
from app.flags import plans as flag_plans
from app.http import compression, graphiql, metrics
from app.http.auth import AuthAndLimits
from app.http.errors import error_response
from app.http.front import Front
from app.http.graphql import GraphQLApp
from app.http.observe import Observed
from app.jobs.worker import running_worker
from app.live.broker import broker
from app.lookups import page as page_plans
from app.lookups import plans, segment_list
from app.resilience import Resilience
from app.settings import Settings, get_settings
from app.webhooks import worker as webhook_worker


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def readyz(request: Request) -> Response:
    try:
        await fetch("SELECT 1 AS ok")
    except Exception as exc:  # the database is what readiness is about
        return JSONResponse({"ready": False, "error": str(exc)}, status_code=503)
    return JSONResponse({"ready": True})


async def not_found(request: Request, exc: Exception) -> Response:
    return error_response(f"Nothing at {request.url.path}", "NOT_FOUND", 404)


async def method_not_allowed(request: Request, exc: Exception) -> Response:
    # the route's Allow header (RFC 9110: a 405 names the methods the resource takes)
    headers = getattr(exc, "headers", None)
    return error_response(
        f"{request.method} is not allowed here", "METHOD_NOT_ALLOWED", 405, headers=headers
    )


@functools.cache
def _freeze_startup() -> None:
    """What startup made (modules, the schema, the plans) lives as long as the process: out of
    the collector's generations, so that its full collections walk only what requests made,
    not the whole heap (a pause of many ms every few thousand requests, seen in the p99).
    Once per process (tests build many apps), after a collection, so no garbage is kept."""
    gc.collect()
    gc.freeze()


def _origins(text: str) -> list[str]:
    return [o.strip() for o in text.split(",") if o.strip()]


def create_app(settings: Settings | None = None, *, init_orm: bool = True) -> Starlette:
    """The app; init_orm=False when the caller (tests) has opened the database already."""
    settings = settings or get_settings()
    logs.configure(settings.log_level)
    graphql = GraphQLApp(
        settings,
        plans=plans.Plans(
            [*plans.FIELDS, *flag_plans.FIELDS, *page_plans.FIELDS, *segment_list.FIELDS], settings
        ),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if init_orm:
                config = tortoise_config(settings.database_url)
                await stack.enter_async_context(RegisterTortoise(app, config=config))
            await stack.enter_async_context(
                broker.running(settings.database_url, queue_size=settings.live_queue_size)
            )
            app.state.email_worker = await stack.enter_async_context(email_worker.running(settings))
            await stack.enter_async_context(running_worker(settings))
            app.state.webhook_worker = await stack.enter_async_context(
                webhook_worker.running(settings)
            )
            await stack.enter_async_context(sweeper.running(settings))
            _freeze_startup()
            yield

    # the router tries the routes in order: /graphql, which nearly every request asks, first
    routes: list[BaseRoute] = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/export/segments/{id}/members.csv", segment_members_csv, methods=["GET"]),
    ]
    if settings.metrics:
        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))
    if settings.graphiql:
        routes.append(Mount(graphiql.PREFIX, graphiql.assets(), name="graphiql"))
    origins = _origins(settings.cors_origins)
    middleware = [
        # a planned GraphQL POST: the layers below, and the plan's answer, in one call
        Middleware(Front, graphql=graphql, settings=settings, cors=bool(origins)),
        Middleware(Observed),  # request id, metrics, access line
        # a deadline per request, and a 503 for an outage (the key lookup included): inside the
        # log and the metrics, so that those answers are logged and counted too
        Middleware(Resilience, timeout_seconds=settings.request_timeout_seconds),
        compression.middleware(settings.compress_min_bytes),
        Middleware(AuthAndLimits, settings=settings),
    ]
    if origins:
        # only when configured: CORSMiddleware wraps every answer (Vary: Origin) otherwise too
        cors = Middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["authorization", "content-type", "accept", "x-request-id"],
            expose_headers=["x-request-id", "retry-after"],
            max_age=600,
        )
        middleware.insert(2, cors)
    return Starlette(
        routes=routes,
        middleware=middleware,
        lifespan=lifespan,
        exception_handlers={404: not_found, 405: method_not_allowed},
    )
