"""The picker option type."""

from __future__ import annotations

import strawberry

from app.pickers.service import Choice


@strawberry.type(
    name="Option",
    description=(
        "For pickers in admin UIs: a member is labelled by email (or name, or id),"
        " a company by name."
    ),
)
class OptionType:
    id: strawberry.ID
    label: str
    description: str | None

    @classmethod
    def of(cls, choice: Choice) -> OptionType:
        return cls(id=strawberry.ID(choice.id), label=choice.label, description=choice.description)
