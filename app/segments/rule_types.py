"""GraphQL types for rule editors: validation with positions, and the fields to offer."""

from __future__ import annotations

import strawberry

from app.segments import rules


@strawberry.type
class RuleProblem:
    message: str
    line: int
    column: int


@strawberry.type
class RuleValidation:
    valid: bool
    problems: list[RuleProblem]
    normalized: str | None = strawberry.field(
        description="The rule in canonical form, when it parses."
    )
    fields: list[str] = strawberry.field(description="The fields the rule reads.")

    @classmethod
    def of(cls, v: rules.Validation) -> RuleValidation:
        return cls(
            valid=v.valid,
            problems=[
                RuleProblem(message=p.message, line=p.line, column=p.column) for p in v.problems
            ],
            normalized=v.normalized,
            fields=v.fields,
        )


@strawberry.type(description="For rule editors' autocomplete.")
class RuleField:
    path: str
    type: str = strawberry.field(
        description="string, number, boolean, array or timestamp: the most common type seen."
    )
    examples: list[str]
