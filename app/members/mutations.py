"""Member mutations: upsert and delete."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import strawberry
from strawberry.scalars import JSON

from app.errors import DomainError, ErrorCode
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.mutation import mutation
from app.graphql.nodes import as_ids
from app.members import service
from app.viewer import Role


@strawberry.input
class MemberInput:
    id: strawberry.ID
    email: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    company_id: strawberry.ID | None = strawberry.UNSET
    attributes: JSON | None = strawberry.field(
        default=strawberry.UNSET,
        description="Merged into the stored attributes; a null value removes a key.",
    )


@strawberry.type
class UpsertPayload:
    created: int
    updated: int
    user_errors: list[UserError]


@strawberry.type
class DeleteMembersPayload:
    deleted: int
    unknown_ids: list[strawberry.ID]
    user_errors: list[UserError]


def as_sent(value: object) -> object:
    """An input field as the upsert services take it: UNSET when the caller did not send it."""
    return service.UNSET if value is strawberry.UNSET else value


def too_many(count: int, limit: int, field: str) -> None:
    """Refuse a request of more items than the limit, before anything is read or written."""
    if count > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE, f"{count} items is over the limit of {limit} per request", [field]
        )


def upsert_mutation(description: str) -> Callable[[Callable[..., Awaitable[UpsertPayload]]], Any]:
    """The decorator of an upsert mutation: WRITER only; a refused batch counts nothing."""
    failed = partial(UpsertPayload, created=0, updated=0)
    return mutation(Role.WRITER, failed=failed, description=description)


Item = TypeVar("Item")
Row = TypeVar("Row")


async def upserted(
    info: Info,
    items: Sequence[Item],
    field: str,
    row: Callable[[Item, list[str]], Row],
    upsert: Callable[..., Awaitable[tuple[int, int]]],
) -> UpsertPayload:
    """An upsert mutation's work: refused over the batch limit, each item made the service's
    row (``row(item, its argument path)``), all upserted at once, created and updated counted."""
    too_many(len(items), info.context.settings.max_upsert_batch, field)
    rows = [row(item, [field, str(i)]) for i, item in enumerate(items)]
    created, updated = await upsert(site_id=info.context.site_id, rows=rows)
    return UpsertPayload(created=created, updated=updated, user_errors=[])


def _member_row(m: MemberInput, line: list[str]) -> service.MemberData:
    return service.MemberData(
        external_id=str(m.id),
        email=as_sent(m.email),
        name=as_sent(m.name),
        company_id=as_sent(m.company_id),
        attributes=as_sent(m.attributes),
        line=line,
    )


def _not_deleted(*, user_errors: list[UserError]) -> DeleteMembersPayload:
    return DeleteMembersPayload(deleted=0, unknown_ids=[], user_errors=user_errors)


@strawberry.type
class MemberMutations:
    @upsert_mutation("Create or update members; all apply or none does.")
    async def upsert_members(self, info: Info, members: list[MemberInput]) -> UpsertPayload:
        return await upserted(info, members, "members", _member_row, service.upsert)

    @mutation(
        Role.WRITER,
        failed=_not_deleted,
        description="Delete members; their listings and exclusions go too.",
    )
    async def delete_members(self, info: Info, ids: list[strawberry.ID]) -> DeleteMembersPayload:
        too_many(len(ids), info.context.settings.max_bulk_ids, "ids")
        deleted, unknown = await service.delete(
            site_id=info.context.site_id, external_ids=[str(i) for i in ids]
        )
        return DeleteMembersPayload(
            deleted=deleted, unknown_ids=as_ids(unknown[:1000]), user_errors=[]
        )
