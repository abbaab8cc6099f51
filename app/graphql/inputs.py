"""Small pieces shared by the mutations of every domain."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

import strawberry

from app import db
from app.graphql.errors import UserError


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None
    user_errors: list[UserError]


# what an update input whose fields may be cleared says of itself (see ``provided``)
MERGE_UPDATE = (
    "Merge update: an omitted field is left as it is; an explicit null clears a nullable field."
)


def id_list(ids: list[strawberry.ID] | None) -> list[str] | None:
    """A list of ids as the services take them (plain strings); None stays None."""
    return None if ids is None else [str(i) for i in ids]


def provided(input_object: Any) -> dict[str, Any]:
    """The fields of an input the caller sent (an explicit null included), by Python name."""
    return {
        f.name: getattr(input_object, f.name)
        for f in dataclasses.fields(input_object)
        if getattr(input_object, f.name) is not strawberry.UNSET
    }


def utc(value: datetime | None) -> datetime | None:
    """A DateTime input in UTC (naive means UTC): stored text then orders as time on SQLite."""
    return None if value is None else db.utc(value)
