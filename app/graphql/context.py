"""The per-request context: who is calling, and the request's DataLoaders."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types import Info as StrawberryInfo

from app.auth.models import Role
from app.auth.service import Viewer, is_revoked
from app.graphql.errors import forbidden, unauthenticated
from app.graphql.loaders import Loaders
from app.settings import Settings


class Context:
    def __init__(
        self,
        *,
        request: Request | WebSocket,
        response: Response | None,
        viewer: Viewer | None,
        settings: Settings,
    ) -> None:
        self.request = request
        self.response = response
        self.viewer_or_none = viewer
        self.settings = settings
        self.loaders = Loaders(viewer.site_id if viewer else 0)
        # a WebSocket's connection_init payload (graphql-transport-ws), where its key may be
        self.connection_params: dict[str, object] | None = None
        self.revoked = False

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
            if is_revoked(context.viewer_or_none.key_id):
                context.revoke()  # its session is being closed: nothing more runs on it
            else:
                context.loaders = Loaders(context.viewer_or_none.site_id)
        yield
