"""What every Relay connection shares: the generic Edge and Connection types (``Connection[
CompanyType]`` is the schema's ``CompanyConnection``), and ``paginated``, the field that
turns the rows its resolver names into one keyset page of them."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

import strawberry
from strawberry.annotation import StrawberryAnnotation
from strawberry.extensions import FieldExtension
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.field import StrawberryField

from app.graphql.context import Info
from app.graphql.pagination import DEFAULT_PAGE_SIZE, PageInfo, Rows, paginate

N = TypeVar("N")
T = TypeVar("T")
E = TypeVar("E")
C = TypeVar("C")


@strawberry.type
class ConnectionBase:
    page_info: PageInfo
    count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="All items matching, over every page.")
    async def total_count(self) -> int:
        # only counted when asked for: a count over a large segment is not free
        return await self.count()


@strawberry.type
class Edge(Generic[N]):
    cursor: str
    node: N


@strawberry.type
class Connection(ConnectionBase, Generic[N]):
    edges: list[Edge[N]]


async def connection(
    info: Info,
    asked: tuple[int | None, str | None],
    rows: Rows[T],
    edge: Callable[[T, str], E],
    build: Callable[..., C],
) -> C:
    """A Relay connection of one keyset page: ``asked`` is (first, after), held to the
    settings' page size limit; ``edge`` makes an edge of a row and its cursor, ``build`` is
    the connection type."""
    first, after = asked
    limit = info.context.settings.max_page_size
    page = await paginate(
        first, after, limit=limit, kind=rows.kind, fetch=rows.fetch, key=rows.key, count=rows.count
    )
    edges = [edge(row, cursor) for row, cursor in zip(page.rows, page.cursors, strict=True)]
    return build(edges=edges, page_info=page.page_info(), count=page.count)


def _node_edge(node: Callable[[T], Any]) -> Callable[[T, str], Edge[Any]]:
    def make(row: T, cursor: str) -> Edge[Any]:
        return Edge(cursor=cursor, node=node(row))

    return make


class _Paginated(FieldExtension):
    """Adds ``first`` and ``after`` to the field's arguments (after the resolver's own) and
    makes the page of the rows the resolver gives."""

    def __init__(self, node: Callable[[Any], Any]) -> None:
        self._edge = _node_edge(node)

    def apply(self, field: StrawberryField) -> None:
        field.arguments = [
            *field.arguments,
            StrawberryArgument(
                python_name="first",
                graphql_name=None,
                type_annotation=StrawberryAnnotation(int | None),
                default=DEFAULT_PAGE_SIZE,
            ),
            StrawberryArgument(
                python_name="after",
                graphql_name=None,
                type_annotation=StrawberryAnnotation(str | None),
                default=None,
            ),
        ]

    async def resolve_async(
        self, next_: Callable[..., Any], source: Any, info: Any, **kwargs: Any
    ) -> Any:
        asked = (kwargs.pop("first", DEFAULT_PAGE_SIZE), kwargs.pop("after", None))
        rows = next_(source, info, **kwargs)
        if inspect.isawaitable(rows):
            rows = await rows
        return await connection(info, asked, rows, self._edge, Connection)


def paginated(
    node: type[N],
    *,
    make: Callable[[Any], N] | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Rows[Any] | Awaitable[Rows[Any]]]], Any]:
    """A field of type ``Connection[node]`` (the schema's ``<Node>Connection``) taking, after
    the resolver's own arguments, ``first`` (default 50, held to MAX_PAGE_SIZE) and ``after``
    (a cursor). The resolver returns the Rows to page through (see ``site_rows``); each row
    becomes a node through ``make``, by default ``node.from_model``."""
    maker = make if make is not None else cast(Any, node).from_model
    field: Callable[[Callable[..., Any]], Any] = strawberry.field(
        graphql_type=cast(Any, Connection)[node],
        description=description,
        extensions=[_Paginated(maker)],
    )
    return field
