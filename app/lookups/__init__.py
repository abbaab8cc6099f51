"""Lookups: isMember, memberSegments, membershipsOf, explainMembership.

``SHORTCUTS``: what this domain answers before the GraphQL executor (the compiled isMember
path, app.lookups.fast), for the HTTP layer to call.
"""

from __future__ import annotations

from typing import Any

from app.lookups import fast


async def is_member_shortcut(
    query: str, variables: dict[str, Any] | None, operation_name: str | None, site_id: int
) -> dict[str, Any] | None:
    """The compiled isMember path (looked up per call, so that tests may wrap it)."""
    return await fast.answer(query, variables, operation_name, site_id)


SHORTCUTS = (is_member_shortcut,)
