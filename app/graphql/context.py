"""The per-request context: who is calling, and the request's DataLoaders."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types import Info as StrawberryInfo

from app.auth.models import Role
from app.auth.service import Viewer
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

    @property
    def viewer(self) -> Viewer:
        if self.viewer_or_none is None:
            raise unauthenticated()
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
