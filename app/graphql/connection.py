"""What every Relay connection shares: edges built from a page, pageInfo, a lazy totalCount."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.graphql.pagination import PageInfo


@strawberry.type
class ConnectionBase:
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="All items matching, over every page.")
    async def total_count(self) -> int:
        # only counted when asked for: a count over a large segment is not free
        return await self.count()


def empty_count() -> Callable[[], Awaitable[int]]:
    async def zero() -> int:
        return 0

    return zero
