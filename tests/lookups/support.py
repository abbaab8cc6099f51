"""Watching the plans: which requests a plan answered, and requests forced to the executor
(the plan-versus-executor tests of the lookups and of the HTTP front share them)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app.lookups import plans


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every answer a plan gave (None: it left the request to the executor)."""
    seen: list[Any] = []
    original = plans.Plan.run

    async def spy(self: plans.Plan, *args: Any) -> Any:
        result = await original(self, *args)
        seen.append(result)
        return result

    monkeypatch.setattr(plans.Plan, "run", spy)
    return seen


@contextmanager
def executor_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Requests inside go to the executor, whatever their document."""
    with monkeypatch.context() as patch:

        async def nothing(*args: Any, **kwargs: Any) -> None:
            return None

        patch.setattr(plans.Plans, "answer", nothing)
        yield
