"""What the services' listings share: a keyset page of a query, and a text search over
some of its fields."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from operator import or_
from typing import Any, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)


async def keyset(qs: QuerySet[M], order: str, after: Any, first: int) -> list[M]:
    """Up to first+1 rows in ``order`` (a field; "-field" for descending) after the key
    ``after`` (None: from the start); the extra row only tells there is a next page."""
    field = order.removeprefix("-")
    if after is not None:
        past = "lt" if order.startswith("-") else "gt"
        qs = qs.filter(**{f"{field}__{past}": after})
    rows: list[M] = await qs.order_by(order).limit(first + 1)
    return rows


async def count(qs: QuerySet[M]) -> int:
    """How many rows the query has (typed: Tortoise's count is not)."""
    n: int = await qs.count()
    return n


def containing(qs: QuerySet[M], search: str | None, *fields: str) -> QuerySet[M]:
    """The rows where one of ``fields`` contains ``search`` (any case); all rows for none."""
    if not search:
        return qs
    return qs.filter(reduce(or_, (Q(**{f"{f}__icontains": search}) for f in fields)))


async def related(
    keys: Sequence[int], links: Sequence[tuple[Any, Any]], rows: QuerySet[M]
) -> dict[int, list[M]]:
    """For each key, the rows its ``(key, row pk)`` links name, in the order of ``rows`` (a
    query, narrowed here to the linked pks): one statement, none when there is no link."""
    found: dict[int, list[M]] = {key: [] for key in keys}
    keys_of: dict[int, list[int]] = {}
    for key, pk in links:
        keys_of.setdefault(int(pk), []).append(int(key))
    if not keys_of:
        return found
    for row in await rows.filter(id__in=list(keys_of)):
        for key in keys_of[row.pk]:
            found[key].append(row)
    return found
