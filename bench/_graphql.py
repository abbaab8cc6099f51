"""One GraphQL call over HTTP, raising on errors."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from _server import Json


class GraphQLError(Exception):
    def __init__(self, errors: list[Any], status: int) -> None:
        super().__init__(f"HTTP {status}: {orjson.dumps(errors).decode()[:2000]}")
        self.errors = errors
        self.status = status


def graphql_endpoint(url: str) -> str:
    """``http://host:port`` → ``http://host:port/graphql``; a URL with a path is kept."""
    parts = urlsplit(url)
    return url.rstrip("/") + "/graphql" if parts.path in ("", "/") else url


def _graphql_result(response: httpx.Response) -> Json:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError as exc:
        raise GraphQLError([{"message": response.text[:2000]}], response.status_code) from exc
    if not isinstance(body, dict):
        raise GraphQLError([{"message": f"unexpected body {body!r:.200}"}], response.status_code)
    if body.get("errors") or response.status_code != 200:
        raise GraphQLError(body.get("errors") or [body], response.status_code)
    data: Json = body.get("data") or {}
    return data


def _graphql_request(key: str, query: str, variables: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "content": orjson.dumps({"query": query, "variables": dict(variables or {})}),
        "headers": {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    }


def graphql(
    url: str,
    key: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    request_timeout: float = 600.0,
) -> Json:
    """POST one GraphQL operation; returns ``data``, raises GraphQLError on any error."""
    response = httpx.post(
        graphql_endpoint(url), timeout=request_timeout, **_graphql_request(key, query, variables)
    )
    return _graphql_result(response)


async def graphql_async(
    url: str,
    key: str,
    query: str,
    variables: Mapping[str, Any] | None = None,
    *,
    request_timeout: float = 600.0,
    client: httpx.AsyncClient | None = None,
) -> Json:
    """The async form of graphql(); pass a client to reuse its connections."""
    request = _graphql_request(key, query, variables)
    if client is not None:
        response = await client.post(graphql_endpoint(url), timeout=request_timeout, **request)
    else:
        async with httpx.AsyncClient(timeout=request_timeout) as own:
            response = await own.post(graphql_endpoint(url), **request)
    return _graphql_result(response)
