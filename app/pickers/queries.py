"""Picker queries: searchMembers, searchCompanies, resolveMembers, resolveCompanies."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.cost import capped_by
from app.graphql.errors import PublicError
from app.pickers import service
from app.pickers.types import OptionType


def _limit(info: Info, limit: int | None) -> int:
    """The number of options asked for (null: 50), capped at the picker limit (as the fields
    declare, ``capped_by``, for their cost)."""
    if limit is None:
        return min(50, info.context.settings.max_picker_limit)
    if limit < 0:
        raise PublicError("limit must not be negative", "INVALID")
    return min(limit, info.context.settings.max_picker_limit)


def _ids(info: Info, ids: list[strawberry.ID]) -> list[str]:
    cap = info.context.settings.max_page_size
    if len(ids) > cap:
        raise PublicError(
            f"{len(ids)} ids is over the limit of {cap} per call", "TOO_LARGE", limit=cap
        )
    return [str(i) for i in ids]


@strawberry.type
class PickerQueries:
    @strawberry.field(
        description=(
            "Members whose email, name or id holds q (case-insensitive): exact matches first,"
            " then prefix matches, then the rest. limit is capped (MAX_PICKER_LIMIT)."
        ),
        metadata=capped_by("max_picker_limit"),
    )
    async def search_members(self, info: Info, q: str, limit: int | None = 50) -> list[OptionType]:
        found = await service.search_members(
            site_id=info.context.site_id, q=q, limit=_limit(info, limit)
        )
        return [OptionType.of(c) for c in found]

    @strawberry.field(
        description="Companies whose name or id holds q, ranked as searchMembers.",
        metadata=capped_by("max_picker_limit"),
    )
    async def search_companies(
        self, info: Info, q: str, limit: int | None = 50
    ) -> list[OptionType]:
        found = await service.search_companies(
            site_id=info.context.site_id, q=q, limit=_limit(info, limit)
        )
        return [OptionType.of(c) for c in found]

    @strawberry.field(
        description="Options for these member ids, in the order asked; unknown ids left out."
    )
    async def resolve_members(self, info: Info, ids: list[strawberry.ID]) -> list[OptionType]:
        found = await service.resolve_members(site_id=info.context.site_id, ids=_ids(info, ids))
        return [OptionType.of(c) for c in found]

    @strawberry.field(
        description="Options for these company ids, in the order asked; unknown ids left out."
    )
    async def resolve_companies(self, info: Info, ids: list[strawberry.ID]) -> list[OptionType]:
        found = await service.resolve_companies(site_id=info.context.site_id, ids=_ids(info, ids))
        return [OptionType.of(c) for c in found]
