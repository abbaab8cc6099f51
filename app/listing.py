"""What the services' listings share: a keyset page of a query, a listing of a site's rows
paged that way, and a text search over some of its fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any, Generic, TypeVar

from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.queryset import QuerySet

M = TypeVar("M", bound=Model)


class KeyOutOfRange(ValueError):
    """A page key no row can have: a string longer than its column holds (so from no cursor
    a page gave; the ORM refuses to compare a column with it)."""


async def keyset(qs: QuerySet[M], order: str, after: Any, first: int) -> list[M]:
    """Up to first+1 rows in ``order`` (a field; "-field" for descending) after the key
    ``after`` (None: from the start); the extra row only tells there is a next page.
    KeyOutOfRange for a key longer than the field's column holds."""
    field = order.removeprefix("-")
    if after is not None:
        size = getattr(qs.model._meta.fields_map[field], "max_length", None)
        if isinstance(after, str) and size is not None and len(after) > size:
            raise KeyOutOfRange(f"a key of {len(after)} characters (the column holds {size})")
        past = "lt" if order.startswith("-") else "gt"
        qs = qs.filter(**{f"{field}__{past}": after})
    rows: list[M] = await qs.order_by(order).limit(first + 1)
    return rows


async def count(qs: QuerySet[M]) -> int:
    """How many rows the query has (typed: Tortoise's count is not)."""
    n: int = await qs.count()
    return n


@dataclass(frozen=True)
class Listing(Generic[M]):
    """A listing of a site's rows: ``query(site_id, **filters)`` the rows, paged in ``order``
    (a field; "-field" for descending) whose values, of type ``kind``, are the page keys."""

    query: Callable[..., QuerySet[M]]
    order: str
    kind: type[Any] = str

    async def page(self, *, site_id: int, first: int, after: Any, **filters: Any) -> list[M]:
        """Up to first+1 rows after the key ``after`` (see keyset)."""
        return await keyset(self.query(site_id, **filters), self.order, after, first)

    async def total(self, *, site_id: int, **filters: Any) -> int:
        """How many rows there are over every page."""
        return await count(self.query(site_id, **filters))

    def key(self, row: M) -> Any:
        """The row's page key: its value of the order field."""
        return getattr(row, self.order.removeprefix("-"))


@dataclass(frozen=True)
class RowListing:
    """A listing of a site's rows read in raw SQL, as dicts in pk order (the page key is the
    row's "id"): ``pages(site_id=, first=, after=, **filters)`` gives up to first+1 of them,
    ``counts(site_id=, **filters)`` the total (none: the caller counts, by a loader)."""

    pages: Callable[..., Awaitable[list[dict[str, Any]]]]
    counts: Callable[..., Awaitable[int]] | None = None
    kind: type[Any] = int

    async def page(
        self, *, site_id: int, first: int, after: Any, **filters: Any
    ) -> list[dict[str, Any]]:
        return await self.pages(site_id=site_id, first=first, after=after, **filters)

    async def total(self, *, site_id: int, **filters: Any) -> int:
        if self.counts is None:
            raise TypeError("this listing is counted by its caller")
        return await self.counts(site_id=site_id, **filters)

    def key(self, row: dict[str, Any]) -> Any:
        return row["id"]


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
