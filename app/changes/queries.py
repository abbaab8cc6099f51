"""Reading the membership record: the membershipChanges connection."""

from __future__ import annotations

import strawberry

from app.changes import feed
from app.changes.types import MembershipChangeConnection, MembershipChangeEdge, MembershipChangeNode
from app.db import parse_pk
from app.errors import HistoryUnavailable
from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.graphql.pagination import paginate


async def _none() -> int:
    return 0


PAGE_SIZE = 100  # first's default, also for an explicit first: null


@strawberry.type
class ChangeQueries:
    @strawberry.field(
        description="Changes of effective membership in the order they committed (of one "
        "segment, of one member by its id, or of the whole site); keep the last cursor and "
        "ask after it to read on with no gap and no repeat. A deleted segment's or member's "
        "changes stay readable until the retained history ends."
    )
    async def membership_changes(
        self,
        info: Info,
        segment_id: strawberry.ID | None = None,
        member_id: strawberry.ID | None = None,
        after: str | None = None,
        first: int | None = PAGE_SIZE,
    ) -> MembershipChangeConnection:
        site_id = info.context.site_id
        segment_pk: int | None = None
        if segment_id is not None:
            segment_pk = parse_pk(segment_id)
            if segment_pk is None:  # names no segment: no change is of it
                segment_pk = 0

        async def rows(n: int, key: int | None) -> list[feed.ChangeRow]:
            found = await feed.list_changes(
                site_id=site_id,
                after=key,
                first=n + 1,
                segment_pk=segment_pk,
                member_ref=None if member_id is None else str(member_id),
            )
            try:  # after the read: a prune that took part of it has its mark seen here
                await feed.check_after(site_id=site_id, after=key, segment_pk=segment_pk)
            except HistoryUnavailable as exc:
                since = exc.history_from.isoformat() if exc.history_from is not None else None
                raise PublicError(exc.message, exc.code, historyFrom=since) from None
            return found

        page = await paginate(
            first,
            after,
            limit=info.context.settings.max_page_size,
            kind=int,
            fetch=rows,
            key=lambda r: r.id,
            count=_none,
            default=PAGE_SIZE,
        )
        return MembershipChangeConnection(
            edges=[
                MembershipChangeEdge(cursor=c, node=MembershipChangeNode.from_row(r))
                for r, c in zip(page.rows, page.cursors, strict=True)
            ],
            page_info=page.page_info(),
        )
