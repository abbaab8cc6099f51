"""The one mutation wrapper: the role check, and a domain error turned into the payload's
userErrors, with the service's domain terms mapped to the mutation's argument paths."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import strawberry

from app.errors import DomainError
from app.graphql.errors import UserError, user_errors
from app.viewer import Role

P = TypeVar("P")

Fields = Mapping[str, Sequence[str]]


def mutation(
    role: Role,
    *,
    failed: Callable[[list[UserError]], Any],
    fields: Fields | None = None,
    description: str | None = None,
) -> Callable[[Callable[..., Awaitable[P]]], Any]:
    """A strawberry mutation whose resolver runs only for a caller with ``role`` (a public
    FORBIDDEN error otherwise) and whose DomainError becomes ``failed(userErrors)``.

    ``fields`` maps each term of an error's path to the argument path it stands for
    (``{"segment": ["input", "segmentId"]}``); a term it does not name is kept as it is.
    The resolver must take ``info``.
    """

    def wrap(resolver: Callable[..., Awaitable[P]]) -> Any:
        @functools.wraps(resolver)
        async def guarded(*args: Any, **kwargs: Any) -> Any:
            kwargs["info"].context.require(role)
            try:
                return await resolver(*args, **kwargs)
            except DomainError as error:
                return failed(user_errors(error, fields))

        return strawberry.mutation(guarded, description=description)

    return wrap
