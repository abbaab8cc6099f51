"""Variables of many ids taken whole: the executor class the schema runs with.

graphql-core coerces a list variable an element at a time (``coerce_input_value`` per item,
after a walk of the whole value for its nesting depth): 57 to 64 ms for a list of 50,000 ids,
most of the server's own CPU in a bulk membership change. A list of plain ``str`` given to
``[ID!]`` or ``[String!]`` (either nullable or not, inside or out) needs none of it: each
item's coerced value is the string itself. ``LiftingExecutor`` takes such lists whole, as
variables or as fields of an input object variable; anything else in them (a number, a null,
a list, an object) leaves the variable to graphql-core, whose error is then the caller's,
word for word.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    Executor,
    GraphQLError,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    GraphQLType,
    OperationDefinitionNode,
    type_from_ast,
)
from graphql.language import DocumentNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

# the scalars whose coerced value of a ``str`` is that same ``str`` (graphql-core's own)
_TAKEN_AS_IS = (GraphQLID, GraphQLString)


def _list_of_strings(kind: GraphQLType | None) -> bool:
    """Whether ``kind`` is a list of ID or String: ``[ID!]!``, ``[ID]``, ``[String!]`` ..."""
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    if not isinstance(kind, GraphQLList):
        return False
    item = kind.of_type
    if isinstance(item, GraphQLNonNull):
        item = item.of_type
    return any(item is scalar for scalar in _TAKEN_AS_IS)


def _all_strings(value: Any) -> bool:
    """Whether ``value`` is a non-empty list of strings (checked by joining them: 1 ms for
    50,000 ids, half of what comparing their types takes)."""
    if type(value) is not list or not value:
        return False
    try:
        "".join(value)
    except TypeError:
        return False
    return True


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    """The operation graphql-core will run (None when it will refuse the document)."""
    found = None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if name is None:
                if found is not None:
                    return None
                found = definition
            elif definition.name is not None and definition.name.value == name:
                found = definition
    return found


# (variable, None) for a variable that is a list, (variable, field) for a field of an input
# object variable; the field by its GraphQL name and by the name it is coerced under
_Place = tuple[str, tuple[str, str] | None]


def lift(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
) -> tuple[dict[str, Any], dict[_Place, list[str]]] | None:
    """The variables with every list of strings that can be taken whole replaced by an empty
    list, and those lists by where they were; None when there is none."""
    if not variables:
        return None
    operation = _operation(document, operation_name)
    if operation is None:
        return None
    lifted: dict[_Place, list[str]] = {}
    given = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = given.get(name)
        if value is None:
            continue
        kind = type_from_ast(schema, definition.type)
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if _list_of_strings(kind):
            if _all_strings(value):
                lifted[(name, None)] = value
                given[name] = []
        elif isinstance(kind, GraphQLInputObjectType) and type(value) is dict:
            fields = kind.fields
            for key, item in value.items():
                field = fields.get(key)
                if field is not None and _list_of_strings(field.type) and _all_strings(item):
                    if given[name] is value:
                        given[name] = dict(value)
                    given[name][key] = []
                    lifted[(name, (key, field.out_name or key))] = item
    return (given, lifted) if lifted else None


class LiftingExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, with lists of strings taken whole when its variables are
    coerced (``lift``). The lists are swapped for empty ones, which coerce to themselves, and
    put back once graphql-core has coerced the rest; if anything else is refused, the
    variables are coerced again as they came, so the errors are graphql-core's own."""

    @classmethod
    def build(
        cls,
        schema: GraphQLSchema,
        document: DocumentNode,
        root_value: Any = None,
        context_value: Any = None,
        raw_variable_values: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> list[GraphQLError] | Executor[Any]:
        found = lift(schema, document, raw_variable_values, operation_name)
        if found is not None:
            given, lifted = found
            built = super().build(
                schema, document, root_value, context_value, given, operation_name, *args, **kwargs
            )
            if not isinstance(built, list) and _put_back(built, lifted, raw_variable_values):
                return built
        return super().build(
            schema,
            document,
            root_value,
            context_value,
            raw_variable_values,
            operation_name,
            *args,
            **kwargs,
        )


def _put_back(
    built: Executor[Any],
    lifted: dict[_Place, list[str]],
    raw: dict[str, Any] | None,
) -> bool:
    """The lifted lists in the coerced variables, the variables as given in their sources;
    False (nothing changed) if a coerced value is not where it should be."""
    assert raw is not None
    coerced, sources = built.variable_values.coerced, built.variable_values.sources
    for (name, field), _ in lifted.items():
        if field is None:
            if coerced.get(name) != []:
                return False
        else:
            container = coerced.get(name)
            if type(container) is not dict or container.get(field[1]) != []:
                return False
    for (name, field), value in lifted.items():
        if field is None:
            coerced[name] = list(value)
        else:
            coerced[name][field[1]] = list(value)
        sources[name] = sources[name]._replace(value=raw[name])
    return True
