"""Apps with settings of their own (CORS origins, introspection off, a budget...)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import get_settings
from tests.factories import Api

AppWith = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def app_with(api: Api) -> AppWith:
    """``async with app_with(cors_origins=...) as other:``: the api's key on an app built with
    those settings."""

    @asynccontextmanager
    async def build(**changes: Any) -> AsyncIterator[Api]:
        settings = get_settings().model_copy(update=changes)
        application = create_app(settings, init_orm=False)
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, api.site, api.key, api.role)

    return build
