"""Keyset cursors and the page-size limit shared by every connection."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import orjson
import strawberry
from strawberry.extensions import SchemaExtension

from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.listing import KeyOutOfRange

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


def encode_cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode("ascii")


def invalid_cursor(cursor: str) -> PublicError:
    return PublicError(f"Invalid cursor {cursor[:60]!r}", "INVALID")


def decode_cursor(cursor: str | None, kind: type[Any] = object) -> Any:
    """The key a cursor holds; None for no cursor. A cursor we did not make, or one whose key
    is not of the connection's kind (str without NUL, which no column holds, or a 64-bit int,
    not negative), is refused."""
    if cursor is None:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeEncodeError) as exc:
        raise invalid_cursor(cursor) from exc
    if kind is not object and (type(key) is not kind or (kind is int and abs(key) >= 2**63)):
        raise invalid_cursor(cursor)
    if isinstance(key, str) and "\x00" in key:  # PostgreSQL refuses to compare with it
        raise invalid_cursor(cursor)
    if kind is int and key < 0:  # no row has a negative key: it would read from the start
        raise PublicError(
            f"Invalid cursor {cursor[:60]!r}: it holds a negative position, which no cursor"
            " this API gives does; pass a cursor from a page (or none, to read from the start)",
            "INVALID",
        )
    return key


DEFAULT_PAGE_SIZE = 50


def check_first(first: int | None, limit: int, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The page size asked for (null: the field's default, as if first were not given),
    refused past the limit."""
    if first is None:
        first = default
    if first < 0:
        raise PublicError("first must not be negative", "INVALID")
    if first > limit:
        raise PublicError(
            f"first={first} is over the page size limit of {limit}", "TOO_LARGE", limit=limit
        )
    return first


@dataclass
class Page(Generic[T]):
    """One page of rows (already trimmed to `first`), with their cursors."""

    rows: Sequence[T]
    cursors: Sequence[str]
    has_next: bool
    count: Callable[[], Awaitable[int]]
    has_previous: bool = False

    def page_info(self) -> PageInfo:
        return PageInfo(
            has_next_page=self.has_next,
            has_previous_page=self.has_previous,
            start_cursor=self.cursors[0] if self.cursors else None,
            end_cursor=self.cursors[-1] if self.cursors else None,
        )


def make_page(
    rows: Sequence[T],
    first: int,
    key: Callable[[T], Any],
    count: Callable[[], Awaitable[int]],
    *,
    after: Any = None,
) -> Page[T]:
    """Trim a fetch of first+1 rows to a page; the extra row only says there is a next page."""
    has_next = len(rows) > first
    rows = rows[:first]
    charge_rows(len(rows))
    return Page(
        rows=rows,
        cursors=[encode_cursor(key(r)) for r in rows],
        has_next=has_next,
        count=count,
        has_previous=after is not None,
    )


async def paginate(
    first: int | None,
    after: str | None,
    *,
    limit: int,
    kind: type[Any],
    fetch: Callable[[int, Any], Awaitable[Sequence[T]]],
    key: Callable[[T], Any],
    count: Callable[[], Awaitable[int]],
    default: int = DEFAULT_PAGE_SIZE,
) -> Page[T]:
    """One keyset page: the size checked (null: ``default``, the field's own default in the
    schema), the cursor decoded, first+1 rows fetched after it."""
    size = check_first(first, limit, default)
    cursor = decode_cursor(after, kind)
    try:
        rows = await fetch(size, cursor)
    except KeyOutOfRange as exc:  # a key longer than any row's: from no cursor we gave
        assert after is not None
        raise invalid_cursor(after) from exc
    return make_page(rows, size, key, count, after=cursor)


@dataclass(frozen=True)
class Rows(Generic[T]):
    """Where a connection's rows come from: ``fetch(n, after_key)`` gives up to n rows after
    the key, ``key`` a row's cursor value (of type ``kind``), ``count`` the total."""

    fetch: Callable[[int, Any], Awaitable[Sequence[T]]]
    key: Callable[[T], Any]
    count: Callable[[], Awaitable[int]]
    kind: type[Any] = str


class SiteListing(Protocol[T]):
    """A service's listing of a site's rows (``app.listing.Listing``, or one in raw SQL)."""

    @property
    def kind(self) -> type[Any]:
        """The type of the page keys."""

    def page(
        self, *, site_id: int, first: int, after: Any, **filters: Any
    ) -> Awaitable[Sequence[T]]:
        """Up to first+1 rows after the key ``after``."""

    def total(self, *, site_id: int, **filters: Any) -> Awaitable[int]:
        """How many rows there are over every page."""

    def key(self, row: T) -> Any:
        """The row's page key."""


def site_rows(
    info: Info,
    listing: SiteListing[T],
    *,
    count: Callable[[], Awaitable[int]] | None = None,
    **filters: Any,
) -> Rows[T]:
    """The rows of a service's listing of the caller's site, with ``filters``; ``count``
    gives the total when the listing's would not do (a request's loader counts many
    parents in one statement)."""
    site_id = info.context.site_id
    return Rows(
        fetch=lambda n, after: listing.page(site_id=site_id, first=n, after=after, **filters),
        key=listing.key,
        count=count or (lambda: listing.total(site_id=site_id, **filters)),
        kind=listing.kind,
    )


# rows every connection of the current operation may still return: [left, limit]
_row_budget: ContextVar[list[int] | None] = ContextVar("segments_row_budget", default=None)


def charge_rows(count: int) -> None:
    """Count rows a connection returns against the operation's budget; refused past it (a
    page size times nested pages times aliases is work the executor cannot interrupt)."""
    budget = _row_budget.get()
    if budget is None:
        return
    budget[0] -= count
    if budget[0] < 0:
        raise PublicError(
            f"The operation asks for more than {budget[1]} rows in all connections together"
            " (MAX_RESULT_ROWS): ask for smaller pages, fewer nested lists or fewer aliases",
            "TOO_LARGE",
            limit=budget[1],
        )


def row_budget(limit: int) -> type[SchemaExtension]:
    """An extension giving each operation a budget of MAX_RESULT_ROWS connection rows."""

    class RowBudget(SchemaExtension):
        def on_execute(self) -> Iterator[None]:
            token = _row_budget.set([limit, limit])
            try:
                yield
            finally:
                _row_budget.reset(token)

    return RowBudget
