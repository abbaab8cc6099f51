"""A compiled path for the hottest operation: a document that asks only ``isMember``.

Feature-flag servers send the same tiny document thousands of times a second; the general
executor costs several times the lookup itself. A document is examined once (cached by its
text): when it is exactly one query operation selecting ``isMember`` (aliased or not) with
string or ``ID`` variable arguments, later requests with it call the lookup service directly
and answer ``{"data": {"<key>": true|false}}``, what the executor answers. Anything else, and
any case that would end in an error (no key, an unknown segment, a variable of the wrong
type), goes through the full executor, which gives the usual errors.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from graphql import (
    FieldNode,
    GraphQLSyntaxError,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    VariableNode,
    parse,
)

from app.db import parse_pk
from app.graphql.input_guard import BadInput, InputLimits, check_id
from app.lookups import service
from app.settings import get_settings

_MAX_DOCUMENTS = 256
_ARGUMENTS = {"segmentId", "memberId"}


@dataclass(frozen=True, slots=True)
class Plan:
    key: str  # the response key: the alias, or isMember
    name: str | None  # the operation's name
    # each argument: ("var", variable name) or ("value", literal)
    arguments: dict[str, tuple[str, str]]


_plans: OrderedDict[str, Plan | None] = OrderedDict()


def plan(query: str) -> Plan | None:
    """The plan for a document, or None when it is not one the fast path answers."""
    if query in _plans:
        _plans.move_to_end(query)
        return _plans[query]
    found = _examine(query)
    _plans[query] = found
    if len(_plans) > _MAX_DOCUMENTS:
        _plans.popitem(last=False)
    return found


def _examine(query: str) -> Plan | None:
    if "isMember" not in query or len(query) > 2000:
        return None
    try:
        document = parse(query, no_location=True)
    except GraphQLSyntaxError:
        return None
    if len(document.definitions) != 1:
        return None
    operation = document.definitions[0]
    if (
        not isinstance(operation, OperationDefinitionNode)
        or operation.operation is not OperationType.QUERY
        or operation.directives
        or len(operation.selection_set.selections) != 1
    ):
        return None
    field = operation.selection_set.selections[0]
    if not isinstance(field, FieldNode):
        return None
    field_arguments = field.arguments or ()
    if (
        field.name.value != "isMember"
        or field.directives
        or field.selection_set is not None
        or {a.name.value for a in field_arguments} != _ARGUMENTS
        or len(field_arguments) != len(_ARGUMENTS)
    ):
        return None
    declared = {}
    for definition in operation.variable_definitions or ():
        kind = definition.type
        if isinstance(kind, NonNullTypeNode):
            kind = kind.type
        if not isinstance(kind, NamedTypeNode) or kind.name.value != "ID":
            return None
        if definition.default_value is not None or definition.directives:
            return None
        declared[definition.variable.name.value] = True
    arguments: dict[str, tuple[str, str]] = {}
    for argument in field_arguments:
        value = argument.value
        if isinstance(value, VariableNode) and value.name.value in declared:
            arguments[argument.name.value] = ("var", value.name.value)
        elif isinstance(value, StringValueNode):
            arguments[argument.name.value] = ("value", value.value)
        else:
            return None
    if set(declared) != {v for kind, v in arguments.values() if kind == "var"}:
        return None  # an unused variable is a validation error: the executor says so
    return Plan(
        key=field.alias.value if field.alias else "isMember",
        name=operation.name.value if operation.name else None,
        arguments=arguments,
    )


async def answer(
    query: str | None, variables: dict[str, Any] | None, operation_name: str | None, site_id: int
) -> dict[str, Any] | None:
    """The response data for an isMember document, or None to leave it to the executor.

    The HTTP layer calls it (a shortcut, app.main wires it) before the executor's work, for a
    signed-in caller's GET or JSON POST, persisted queries included."""
    if not query:
        return None
    found = plan(query)
    if found is None or (operation_name is not None and operation_name != found.name):
        return None
    values: dict[str, str] = {}
    for argument, (kind, value) in found.arguments.items():
        if kind == "value":
            values[argument] = value
            continue
        given = (variables or {}).get(value)
        if isinstance(given, bool) or not isinstance(given, str | int):
            return None
        values[argument] = str(given)
    for value in values.values():
        try:
            check_id(value, InputLimits(max_id_length=get_settings().max_id_length))
        except BadInput:
            return None  # the executor refuses it, with the code and the limit named
    segment_pk = parse_pk(values["segmentId"])
    lookup = await service.load(site_id=site_id, external_ids=[values["memberId"]])
    segment = lookup.cat.by_pk.get(segment_pk) if segment_pk is not None else None
    if segment is None:
        return None
    membership = lookup.membership(values["memberId"])
    is_member = membership is not None and membership.counts(segment, include_inactive=False)
    return {found.key: is_member}
