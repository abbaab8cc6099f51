"""Ids a request names: each distinct one with the row id it stands for, refused in domain
errors past a limit or when some name no row."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from typing import TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model
from tortoise.queryset import QuerySet

from app.db import parse_pk
from app.errors import DomainError, ErrorCode, not_found

M = TypeVar("M", bound=Model)

MAX_SHOWN = 10  # unknown ids an error message names


def named_pks(
    ids: Iterable[object], *, limit: int, noun: str, field: Sequence[str], per: str = ""
) -> dict[str, int | None]:
    """Each distinct id, in order, with the row id it names (None for none);
    TOO_LARGE past ``limit`` ids ("12 {noun} is over the limit of 10{per}")."""
    unique = list(dict.fromkeys(str(i) for i in ids))
    if len(unique) > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE, f"{len(unique)} {noun} is over the limit of {limit}{per}", field
        )
    return {i: parse_pk(i) for i in unique}


def refuse_unknown(
    pks: dict[str, int | None], known: Collection[int], what: str, field: Sequence[str]
) -> None:
    """NOT_FOUND naming the ids whose row is not among ``known``."""
    unknown = [i for i, pk in pks.items() if pk not in known]
    if unknown:
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"{len(unknown)} {what} ids name no {what}: "
            + ", ".join(repr(i) for i in unknown[:MAX_SHOWN]),
            field,
        )


async def by_id(
    qs: QuerySet[M], text: str, connection: BaseDBAsyncClient | None = None
) -> M | None:
    """The row of ``qs`` an opaque id names (read on ``connection`` when given); None for an
    id that names none."""
    pk = parse_pk(text)
    if pk is None:
        return None
    qs = qs.filter(id=pk)
    return await (qs.using_db(connection) if connection else qs).first()


async def by_id_or_fail(
    qs: QuerySet[M], text: str, what: str, field: Sequence[str], connection: BaseDBAsyncClient
) -> M:
    """The row of ``qs`` an opaque id names, read on ``connection``; NOT_FOUND ("{what} 'id'
    not found", at ``field``) when it names none."""
    row = await by_id(qs, text, connection)
    if row is None:
        raise not_found(what, text, field)
    return row
