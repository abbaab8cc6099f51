"""Apps with settings of their own (CORS origins, introspection off, a budget...)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest

from app.settings import get_settings
from tests.factories import Api, served
from tests.lookups.support import answered  # noqa: F401 (the plans' spy, a fixture)

AppWith = Callable[..., AbstractAsyncContextManager[Api]]


@pytest.fixture
def app_with(api: Api) -> AppWith:
    """``async with app_with(cors_origins=...) as other:``: the api's key on an app built with
    those settings."""

    @asynccontextmanager
    async def build(**changes: Any) -> AsyncIterator[Api]:
        settings = get_settings().model_copy(update=changes)
        async with served(api, settings, lifespan=False) as served_api:
            yield served_api

    return build
