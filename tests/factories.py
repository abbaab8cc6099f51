"""Factories for sites, keys, members, companies and segments; each test makes its own data."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tortoise import Tortoise

from app.auth.models import Role, Site
from app.auth.service import create_key, create_site
from app.lookups import service as lookups_service
from app.settings import Settings


@dataclass
class Api:
    """A GraphQL caller bound to one site and key."""

    client: httpx.AsyncClient
    site: Site
    key: str
    role: Role

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {self.key}"},
        )

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The whole response body: data and errors."""
        body: dict[str, Any] = (await self.post(query, variables)).json()
        return body

    async def query(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data of a response that must have no errors."""
        body = await self.raw(query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def with_role(self, role: Role) -> Api:
        """Another key of the same site."""
        _, secret = await create_key(
            site_id=self.site.id, name=f"{role.value.lower()}-key", role=role
        )
        return Api(self.client, self.site, secret, role)


@asynccontextmanager
async def served(api: Api, settings: Settings, *, lifespan: bool = True) -> AsyncIterator[Api]:
    """The api's site and key on an app of its own built with ``settings`` (its lifespan run,
    and so its workers, unless ``lifespan`` is false)."""
    from app.main import create_app

    application = create_app(settings, init_orm=False)
    async with AsyncExitStack() as stack:
        if lifespan:
            await stack.enter_async_context(LifespanManager(application))
        transport = httpx.ASGITransport(app=application)
        client = await stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://test")
        )
        yield Api(client, api.site, api.key, api.role)


async def make_api(client: httpx.AsyncClient, *, slug: str, role: Role = Role.ADMIN) -> Api:
    site = await create_site(slug=slug, name=slug.title())
    _, secret = await create_key(site_id=site.id, name="test-admin", role=role)
    return Api(client, site, secret, role)


UPSERT_MEMBERS = """
mutation($members: [MemberInput!]!) {
  upsertMembers(members: $members) { created updated userErrors { field message code } }
}
"""

UPSERT_COMPANIES = """
mutation($companies: [CompanyInput!]!) {
  upsertCompanies(companies: $companies) { created updated userErrors { field message code } }
}
"""

CREATE_SEGMENT = """
mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) {
    segment { id name type isActive status memberCount companyCount }
    userErrors { field message code }
  }
}
"""


async def members(api: Api, *ids: str, **fields: Any) -> None:
    """Upsert members with the given ids (and the same extra fields each)."""
    data = await api.query(UPSERT_MEMBERS, {"members": [{"id": i, **fields} for i in ids]})
    assert data["upsertMembers"]["userErrors"] == []


async def companies(api: Api, *ids: str, **fields: Any) -> None:
    rows = [{"id": i, "name": fields.get("name", f"Company {i}"), **fields} for i in ids]
    data = await api.query(UPSERT_COMPANIES, {"companies": rows})
    assert data["upsertCompanies"]["userErrors"] == []


async def segment(api: Api, name: str, **fields: Any) -> dict[str, Any]:
    """Create a segment; returns its fields (id, name, type, status, counts)."""
    data = await api.query(CREATE_SEGMENT, {"input": {"name": name, **fields}})
    payload = data["createSegment"]
    assert payload["userErrors"] == [], payload["userErrors"]
    result: dict[str, Any] = payload["segment"]
    return result


def count_fetches(monkeypatch: Any, *modules: Any) -> list[str]:
    """The SQL every ``fetch`` of these modules sends from now on (the calls still run)."""
    sent: list[str] = []
    for module in modules:
        original = module.fetch

        async def counting(text: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            sent.append(text)
            return await _original(text, *args, **kw)

        monkeypatch.setattr(module, "fetch", counting)
    return sent


@contextmanager
def count_statements() -> Iterator[list[str]]:
    """Every SQL statement the database client runs while the block is open, ORM and raw
    alike, and the lookups' statements sent straight to asyncpg's pool on PostgreSQL
    (count_fetches sees only raw ``fetch`` calls)."""
    statements: list[str] = []
    client_class = type(Tortoise.get_connection("default"))

    async def on_pool(pool: Any, text: str, params: Any) -> Any:
        statements.append(text)
        return await direct(pool, text, params)

    direct = lookups_service.on_pool

    def counting(original: Any) -> Any:
        async def wrapper(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
            statements.append(query)
            return await original(self, query, *args, **kwargs)

        return wrapper

    with pytest.MonkeyPatch.context() as patch:
        for name in ("execute_query", "execute_query_dict", "execute_many", "execute_insert"):
            # on the class that defines it, which the transactions' wrapper shares with the
            # connection's own class (app.db subclasses Tortoise's SQLite client)
            owner = next(k for k in client_class.__mro__ if name in vars(k))
            patch.setattr(owner, name, counting(getattr(owner, name)))
        patch.setattr(lookups_service, "on_pool", on_pool)
        yield statements
