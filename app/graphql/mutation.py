"""The one mutation wrapper: the role check, and a domain error turned into the payload's
userErrors, with the service's domain terms mapped to the mutation's argument paths; and the
mutation that deletes a row by its id."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import strawberry
from strawberry.utils.str_converters import to_camel_case

from app.errors import DomainError, DomainErrors
from app.graphql.context import Info
from app.graphql.errors import UserError
from app.graphql.inputs import DeletePayload
from app.viewer import Role

P = TypeVar("P")

Fields = Mapping[str, Sequence[str]]

_NOT_ARGUMENTS = {"self", "info"}


class ArgumentPaths:
    """Where a mutation's arguments carry each domain field a service names in an error.

    A term becomes the path ``fields`` gives it (``{"segment": ["input", "segmentId"]}``);
    else the argument of that name (``segment_id`` → ``segmentId``); else, when the mutation
    takes an ``input`` argument, that field of it (``ends_at`` → ``input.endsAt``). An empty
    path names the whole input. Indexes and other terms keep their place, in GraphQL case.
    """

    def __init__(self, resolver: Callable[..., Any], fields: Fields) -> None:
        names = set(inspect.signature(resolver).parameters) - _NOT_ARGUMENTS
        self._fields = dict(fields)
        self._arguments = names
        self._input = ["input"] if "input" in names else []

    def __call__(self, field: Sequence[str]) -> list[str]:
        path: list[str] = []
        for i, term in enumerate(field):
            if term in self._fields:
                path.extend(self._fields[term])
            elif i == 0 and term not in self._arguments:
                path.extend([*self._input, to_camel_case(term)])
            else:
                path.append(to_camel_case(term))
        return path if field else list(self._input)


def _emptied(resolver: Callable[..., Any]) -> Callable[..., Any]:
    """The payload the resolver returns, with every field but userErrors null."""
    payload = typing.get_type_hints(resolver)["return"]
    names = [f.name for f in dataclasses.fields(payload) if f.init and f.name != "user_errors"]
    return functools.partial(payload, **dict.fromkeys(names))


def mutation(
    role: Role,
    *,
    failed: Callable[..., Any] | None = None,
    fields: Fields | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Awaitable[P]]], Any]:
    """A strawberry mutation whose resolver runs only for a caller with ``role`` (a public
    FORBIDDEN error otherwise) and whose DomainError becomes ``failed(user_errors=[...])``
    (DomainErrors: one userError each), its field named by the mutation's argument path (see
    ArgumentPaths; ``fields`` names the terms that do not follow the rule). ``failed`` is the
    payload with its result left empty: by default the resolver's payload type with its other
    fields null (a payload whose result is not nullable, counts for example, gives its own).
    The resolver must take ``info``.
    """

    def wrap(resolver: Callable[..., Awaitable[P]]) -> Any:
        paths = ArgumentPaths(resolver, fields or {})
        empty: list[Callable[..., Any]] = [] if failed is None else [failed]

        @functools.wraps(resolver)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            kwargs["info"].context.require(role)
            try:
                return await resolver(*args, **kwargs)
            except DomainError as error:
                every = error.errors if isinstance(error, DomainErrors) else [error]
                reported = [
                    UserError(
                        field=None if e.field is None else paths(e.field),
                        message=e.message,
                        code=e.code,
                    )
                    for e in every
                ]
                if not empty:  # the payload type, read once the module is complete
                    empty.append(_emptied(resolver))
                return empty[0](user_errors=reported)

        return strawberry.mutation(guarded, description=description)

    return wrap


def deleting(
    role: Role, delete: Callable[..., Awaitable[object]], key: str, *, description: str
) -> Any:
    """A mutation (see ``mutation``) deleting one row of the caller's site named by its ``id``
    argument: ``delete(site_id=, actor=, <key>=id)``, answered with the id it deleted."""

    async def delete_one(self: object, info: Info, id: strawberry.ID) -> DeletePayload:
        await delete(**info.context.acting, **{key: id})
        return DeletePayload(deleted_id=id, user_errors=[])

    return mutation(role, description=description)(delete_one)
