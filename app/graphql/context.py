"""The per-request context: who is calling, and the request's DataLoaders."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, cast, overload

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader
from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo

from app.graphql.errors import forbidden, unauthenticated
from app.settings import Settings
from app.viewer import Acting, Role, Viewer

K = TypeVar("K")
V = TypeVar("V")

LoaderFactory = Callable[[int], DataLoader[K, V]]


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose callers each wait on their own shield of the shared future: when
    graphql-core cancels one field (a sibling failed), the others waiting on the same key
    still get the value instead of a CancelledError escaping the executor (a raw 500)."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


def batch_loader(
    batch: Callable[[list[K]], Awaitable[Mapping[K, V]]], default: V
) -> DataLoader[K, V]:
    """A DataLoader over a batch function that answers a dict: a key it leaves out gets
    ``default``."""

    async def load(keys: Sequence[K]) -> list[V]:
        found = await batch(list(keys))
        return [found.get(k, default) for k in keys]

    return SharedLoader(load_fn=load)


@dataclass(frozen=True)
class Lazy:
    """A name in another domain's module, as ``strawberry.lazy`` names a type: imported on first
    use, so that domains whose types point at each other (a member's segments, a segment's
    members) need not import each other. For loader factories and node builders only."""

    module: str
    name: str

    def get(self) -> Any:
        return getattr(importlib.import_module(self.module), self.name)


class Loaders:
    """The request's DataLoaders: each domain's factories (``app/<domain>/loaders.py``), made on
    first use and bound to the caller's site, so that every per-node lookup of a request is
    batched into one query per kind."""

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self._made: dict[Any, DataLoader[Any, Any]] = {}

    @overload
    def get(self, factory: Lazy) -> DataLoader[Any, Any]: ...

    @overload
    def get(self, factory: LoaderFactory[K, V]) -> DataLoader[K, V]: ...

    def get(self, factory: LoaderFactory[K, V] | Lazy) -> DataLoader[K, V] | DataLoader[Any, Any]:
        key = factory.get() if isinstance(factory, Lazy) else factory
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = key(self.site_id)
        return cast(DataLoader[K, V], made)


class Context:
    def __init__(
        self,
        *,
        request: Request | WebSocket,
        response: Response | None,
        viewer: Viewer | None,
        settings: Settings,
        key_revoked: Callable[[int], bool] = lambda key_id: False,
    ) -> None:
        self.request = request
        self.response = response
        self.viewer_or_none = viewer
        self.settings = settings
        self.loaders = Loaders(viewer.site_id if viewer else 0)
        # a WebSocket's connection_init payload (graphql-transport-ws), where its key may be
        self.connection_params: dict[str, object] | None = None
        self.revoked = False
        # whether this process heard that a key was revoked (the HTTP layer passes auth's)
        self.key_revoked = key_revoked

    def sign_in(self, viewer: Viewer) -> None:
        """The caller, once a WebSocket's connection_init has named its key."""
        self.viewer_or_none = viewer
        self.loaders = Loaders(viewer.site_id)

    def revoke(self) -> None:
        """The key was revoked while a WebSocket was signed in with it."""
        self.viewer_or_none = None
        self.revoked = True

    @property
    def viewer(self) -> Viewer:
        if self.viewer_or_none is None:
            raise unauthenticated("API key revoked") if self.revoked else unauthenticated()
        return self.viewer_or_none

    @property
    def site_id(self) -> int:
        """The caller's site: the only site any resolver may read or write."""
        return self.viewer.site_id

    @property
    def acting(self) -> Acting:
        """The caller as a service's write takes it: ``service.f(**info.context.acting, ...)``
        passes ``site_id`` and ``actor``."""
        viewer = self.viewer
        return Acting(site_id=viewer.site_id, actor=viewer.key_name)

    def require(self, role: Role) -> Viewer:
        viewer = self.viewer
        if not viewer.can(role):
            raise forbidden(role.value)
        return viewer


Info = StrawberryInfo[Context, Any]


class FreshLoaders(SchemaExtension):
    """A WebSocket's context lives as long as the connection: each operation on it gets new
    loaders, so that none is answered from rows another operation cached."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, Context)
            and isinstance(context.request, WebSocket)
            and context.viewer_or_none is not None
        ):
            if context.key_revoked(context.viewer_or_none.key_id):
                context.revoke()  # its session is being closed: nothing more runs on it
            else:
                context.loaders = Loaders(context.viewer_or_none.site_id)
        yield
