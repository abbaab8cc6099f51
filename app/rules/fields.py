"""The fields a rule may name: one catalogue, shared by the parser and both evaluators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

FieldKind = Literal["text", "timestamp", "json"]
Owner = Literal["member", "company"]

# Keys are inlined into JSON paths of the compiled SQL, so this pattern is also what keeps
# that SQL safe: nothing but letters, digits and underscores ever reaches it.
KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

MEMBER_ATTRIBUTES = "attributes."
COMPANY_ATTRIBUTES = "company.attributes."


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """Where a field's value lives: the owner's table column, and the JSON keys inside it."""

    path: str
    kind: FieldKind
    owner: Owner
    column: str
    keys: tuple[str, ...] = ()


_FIXED: dict[str, FieldSpec] = {
    spec.path: spec
    for spec in (
        FieldSpec("id", "text", "member", "external_id"),
        FieldSpec("email", "text", "member", "email"),
        FieldSpec("name", "text", "member", "name"),
        FieldSpec("created_at", "timestamp", "member", "created_at"),
        FieldSpec("updated_at", "timestamp", "member", "updated_at"),
        FieldSpec("company.id", "text", "company", "external_id"),
        FieldSpec("company.name", "text", "company", "name"),
        FieldSpec("company.plan", "text", "company", "plan"),
    )
}

RULE_FIXED_FIELDS: list[tuple[str, str]] = [
    (spec.path, "timestamp" if spec.kind == "timestamp" else "string") for spec in _FIXED.values()
]
"""The fixed fields as (path, type), for rule editors; attributes.* are free-form JSON."""


@dataclass(frozen=True, slots=True)
class FieldProblem:
    """Why a name is not a field, and where in the name (0-based) the trouble starts."""

    message: str
    offset: int = 0


def check_field(path: str) -> FieldSpec | FieldProblem:
    """The spec of a field path, or the problem with it (unknown field, bad key)."""
    fixed = _FIXED.get(path)
    if fixed is not None:
        return fixed
    if path.startswith(COMPANY_ATTRIBUTES):
        return _attribute_field(path, COMPANY_ATTRIBUTES, "company")
    if path.startswith(MEMBER_ATTRIBUTES):
        return _attribute_field(path, MEMBER_ATTRIBUTES, "member")
    return FieldProblem(f"unknown field '{path}'{_suggestion(path)}")


@lru_cache(maxsize=1024)
def field_spec(path: str) -> FieldSpec:
    """The spec of a valid field path; ValueError for anything else (e.g. a corrupt stored AST)."""
    result = check_field(path)
    if isinstance(result, FieldProblem):
        raise ValueError(result.message)
    return result


def _attribute_field(path: str, prefix: str, owner: Owner) -> FieldSpec | FieldProblem:
    keys = path[len(prefix) :].split(".")
    offset = len(prefix)
    for key in keys:
        if not key:
            return FieldProblem(f"expected a key after '{path[: offset - 1]}.'", offset)
        if not KEY.match(key):
            return FieldProblem(
                f"bad key '{key}' in {path}: a key is letters, digits and _, "
                "not starting with a digit",
                offset,
            )
        offset += len(key) + 1
    return FieldSpec(path, "json", owner, "attributes", tuple(keys))


def _suggestion(path: str) -> str:
    """A hint for an unknown field: the likely intended spelling, if there is one."""
    for known in _FIXED:
        if path.lower() == known:
            return f" (did you mean {known}?)"
    if path in ("attributes", "company.attributes"):
        return f" (name a key, as in {path}.tier)"
    lowered = path.lower()
    for prefix in (MEMBER_ATTRIBUTES, COMPANY_ATTRIBUTES):
        if lowered.startswith(prefix) and not path.startswith(prefix):
            return f" (did you mean {prefix}{path[len(prefix) :]}?)"
    if path.startswith("company."):
        rest = path.removeprefix("company.")
        if all(KEY.match(k) for k in rest.split(".")):
            return f" (did you mean {COMPANY_ATTRIBUTES}{rest}?)"
        return ""
    if all(KEY.match(k) for k in path.split(".")):
        return f" (did you mean {MEMBER_ATTRIBUTES}{path}?)"
    return ""
