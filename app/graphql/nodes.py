"""Building GraphQL objects from rows: what every type's ``from_model`` shares, and the
node of one row of the caller's site."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Self, TypeVar

import strawberry

from app.db import as_datetime
from app.graphql.context import Info

T = TypeVar("T")
N = TypeVar("N")


_NAMES: dict[type[Any], tuple[str, ...]] = {}


def _names(cls: type[Any]) -> tuple[str, ...]:
    names = _NAMES.get(cls)
    if names is None:
        names = _NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls) if f.init)
    return names


def from_attributes(cls: type[T], source: Any, **given: Any) -> T:
    """An object of the strawberry type ``cls``: its fields are ``given``, or else the
    attributes (the keys, for a mapping such as a raw SQL row) of ``source`` of the same
    names. A field ``source`` lacks raises AttributeError (KeyError): a type out of step
    with its model fails at once, not with a silent None."""
    if isinstance(source, Mapping):
        return cls(**{n: given[n] if n in given else source[n] for n in _names(cls)})
    return cls(**{n: given[n] if n in given else getattr(source, n) for n in _names(cls)})


def as_ids(ids: Iterable[object]) -> list[strawberry.ID]:
    """The GraphQL ids of the plain ids (or pks) a service gives (``id_list`` the other way)."""
    return [strawberry.ID(str(i)) for i in ids]


def from_entity_row(cls: type[T], row: Mapping[str, Any], **given: Any) -> T:
    """``from_attributes`` for a raw SQL row of a member or a company: its pk, its external
    id as the GraphQL id, its timestamps as UTC datetimes (SQLite gives them as text)."""
    return from_attributes(
        cls,
        row,
        pk=int(row["id"]),
        id=strawberry.ID(row["external_id"]),
        created_at=as_datetime(row["created_at"]),
        updated_at=as_datetime(row["updated_at"]),
        **given,
    )


@strawberry.type
class RowNode:
    """What the node of one row begins with: the row's pk, private (nested fields load by
    it), and the id the API shows, by default the pk as text. Not in the schema itself."""

    pk: strawberry.Private[int]
    id: strawberry.ID

    @classmethod
    def from_model(cls, row: Any, **given: Any) -> Self:
        """``from_attributes`` of a model row, its pk the id unless ``given`` names another
        (``given`` fields as they are)."""
        return from_attributes(
            cls, row, **{"pk": row.id, "id": strawberry.ID(str(row.id)), **given}
        )


async def site_node(
    info: Info, get: Callable[..., Awaitable[T | None]], make: Callable[[T], N], **key: Any
) -> N | None:
    """The node of a row of the caller's site: ``get(site_id=, **key)`` finds the row (None:
    there is none, and so no node), ``make`` builds the node of it."""
    row = await get(site_id=info.context.site_id, **key)
    return None if row is None else make(row)
