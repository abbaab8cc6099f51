"""What a document costs, computed from the schema before anything runs (Shopify-style).

- a field of an object type costs 1, a scalar or enum field 0;
- a field that returns a list or a connection multiplies what it selects by its ``first``
  (or ``limit``) argument: the value given, else the argument's default, else 1; a field
  whose resolver caps that argument at a setting says so (``capped_by``), and counts as the
  capped value (what it can answer), not as the value asked;
- a field that returns a list and has no such argument but list arguments (ids or keys:
  ``membershipsOf(memberIds)``, ``resolveMembers(ids)``, ``evaluateFlags(keys)``) answers
  one item per item asked: it multiplies what it selects by their number, as a page by its
  rows (a list not given or null: 1);
- each mutation field costs ``MUTATION_COST`` more; an operation costs at least 1.

``@skip``/``@include`` are not read (the cost is an upper bound); fields of an interface or a
union's fragments are all counted. The walk is linear in the document: each fragment's cost
is computed once (a chain of fragments each spreading the next twice costs N steps, not 2^N).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLList,
    GraphQLNamedType,
    GraphQLScalarType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    VariableNode,
    Visitor,
    get_named_type,
    get_nullable_type,
    is_leaf_type,
    value_from_ast_untyped,
    visit,
)
from graphql.execution import ExecutionResult
from strawberry.extensions import SchemaExtension

from app.graphql.errors import PublicError
from app.settings import Settings, get_settings

MUTATION_COST = 10
SIZE_ARGUMENTS = ("first", "limit", "last")
# the key of a field's metadata naming the setting its size argument is capped at
CAP = "cost.capped_by"


def capped_by(setting: str) -> dict[str, str]:
    """The metadata of a field whose resolver answers at most the setting's value however
    large its size argument (``@strawberry.field(metadata=capped_by("max_picker_limit"))``):
    its cost counts the capped size, so a size over the cap is capped, never refused."""
    if setting not in Settings.model_fields:
        raise ValueError(f"no setting {setting!r} to cap at")
    return {CAP: setting}


def _as_argument(value: Any, argument: Any) -> Any:
    """A variable's value as the executor coerces it for a size argument (graphql-core's own
    function: 500.0 and 5e2 are the Int 500); None when it would refuse it (a string, past 32
    bits), which the executor then reports as the variable's error (BAD_USER_INPUT)."""
    scalar = get_nullable_type(argument.type)
    if value is None or not isinstance(scalar, GraphQLScalarType):
        return value
    try:
        return scalar.parse_value(value)
    except (GraphQLError, TypeError, ValueError):
        return None


def _cap(definition: Any, settings: Settings) -> int | None:
    """The cap of a field's size argument, when it declares one (``capped_by``)."""
    field = (definition.extensions or {}).get("strawberry-definition")
    setting = (getattr(field, "metadata", None) or {}).get(CAP)
    return None if setting is None else int(getattr(settings, setting))


class _Walk:
    """One cost computation: the document's fragments, memoized by name."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        settings: Settings,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.settings = settings
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.fragment_costs: dict[str, int] = {}
        self.in_progress: set[str] = set()

    def _size(self, field: FieldNode, definition: Any) -> int:
        for name in SIZE_ARGUMENTS:
            argument = definition.args.get(name)
            if argument is None:
                continue
            value: Any = None
            found = False
            for given in field.arguments or ():
                if given.name.value != name:
                    continue
                found = True
                if isinstance(given.value, IntValueNode):
                    value = int(given.value.value)
                elif isinstance(given.value, VariableNode):
                    value = _as_argument(self.variables.get(given.value.name.value), argument)
            if not found or value is None:
                value = argument.default_value
            if isinstance(value, int) and not isinstance(value, bool):
                cap = _cap(definition, self.settings)
                return max(value if cap is None else min(value, cap), 0)
        items = self._items(field, definition)
        return 1 if items is None else items

    def _items(self, field: FieldNode, definition: Any) -> int | None:
        """The number of items of the field's list arguments (a lone value given for a list
        is a list of one, as GraphQL coerces it); None when none is given or all are null."""
        total: int | None = None
        for name, argument in definition.args.items():
            if not isinstance(get_nullable_type(argument.type), GraphQLList):
                continue
            value: Any = argument.default_value
            for given in field.arguments or ():
                if given.name.value == name:
                    value = given.value
                    if isinstance(value, VariableNode):
                        value = self.variables.get(value.name.value)
            if isinstance(value, ListValueNode):
                count = len(value.values)
            elif isinstance(value, list):
                count = len(value)
            elif value is None or value is Undefined or isinstance(value, NullValueNode):
                continue
            else:
                count = 1
            total = count if total is None else total + count
        return total

    def _is_list_like(self, output: Any) -> bool:
        nullable = get_nullable_type(output)
        if isinstance(nullable, GraphQLList):
            return True
        return bool(get_named_type(output).name.endswith("Connection"))

    def selection_set(self, selections: SelectionSetNode | None, parent: GraphQLNamedType) -> int:
        if selections is None:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection_set(selection.selection_set, target or parent)
            elif isinstance(selection, FragmentSpreadNode):
                total += self.fragment(selection.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name in self.fragment_costs:
            return self.fragment_costs[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.in_progress:  # validation reports both
            return 0
        self.in_progress.add(name)
        target = self.schema.get_type(definition.type_condition.name.value)
        cost = self.selection_set(definition.selection_set, target) if target else 0
        self.in_progress.discard(name)
        self.fragment_costs[name] = cost
        return cost

    def field(self, node: FieldNode, parent: GraphQLNamedType) -> int:
        name = node.name.value
        fields = getattr(parent, "fields", None)
        if name.startswith("__") or not fields or name not in fields:
            return 0
        definition = fields[name]
        named = get_named_type(definition.type)
        if is_leaf_type(named):
            return 0
        inner = 1 + self.selection_set(node.selection_set, named)
        if self._is_list_like(definition.type):
            inner *= self._size(node, definition)
        return inner

    def operation(self, operation: OperationDefinitionNode) -> int:
        root = self.schema.get_root_type(operation.operation)
        if root is None:
            return 0
        # a variable not given has its declared default, as the executor gives it
        defaults = {
            d.variable.name.value: value_from_ast_untyped(d.default_value)
            for d in operation.variable_definitions or ()
            if d.default_value is not None and d.variable.name.value not in self.variables
        }
        if defaults:
            self.variables = {**self.variables, **defaults}
        cost = self.selection_set(operation.selection_set, root)
        if operation.operation is OperationType.MUTATION:
            fields = [s for s in operation.selection_set.selections if isinstance(s, FieldNode)]
            cost += MUTATION_COST * max(len(fields), 1)
        return max(cost, 1)


def document_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
    settings: Settings | None = None,
) -> int:
    """The cost of the operation that would run (the named one, or the only one); the caps
    fields declare are read from ``settings`` (the app's by default)."""
    walk = _Walk(schema, document, variables or {}, settings or get_settings())
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    for operation in operations:
        if operation_name is None or (operation.name and operation.name.value == operation_name):
            return walk.operation(operation)
    return 0


def varies(schema: GraphQLSchema, document: DocumentNode) -> bool:
    """Whether the document's cost may depend on its variables: a page size, or a list of
    ids or keys, given as a variable (its cost is then each request's own)."""
    lists = {
        name
        for kind in schema.type_map.values()
        for definition in (getattr(kind, "fields", None) or {}).values()
        if hasattr(definition, "args")
        for name, argument in definition.args.items()
        if isinstance(get_nullable_type(argument.type), GraphQLList)
    }
    found = False

    class Sizes(Visitor):
        def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
            nonlocal found
            name = node.name.value
            if isinstance(node.value, VariableNode) and (name in SIZE_ARGUMENTS or name in lists):
                found = True

    visit(document, Sizes())
    return found


@dataclass
class _Bucket:
    tokens: float
    at: float


class Throttle:
    """A token bucket per API key: ``rate`` cost a second, holding at most ``capacity``.

    In-process: with several processes each keeps its own buckets (see the README).
    """

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self._buckets: dict[int, _Bucket] = {}

    def take(self, key_id: int, cost: int, now: float | None = None) -> float:
        """Spend ``cost`` from the key's bucket: 0 when it could, else the seconds to wait
        (a cost over ``capacity`` never fits: its caller refuses it with ``over_burst``)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        if cost <= bucket.tokens:
            bucket.tokens -= cost
            return 0.0
        return (cost - bucket.tokens) / self.rate

    def reset(self) -> None:
        self._buckets.clear()


def over_limit(cost: int, limit: int) -> PublicError:
    return PublicError(
        f"Query cost {cost} is over the limit of {limit} (MAX_QUERY_COST); ask for smaller pages",
        "MAX_COST_EXCEEDED",
        cost=cost,
        limit=limit,
    )


def over_burst(cost: int, burst: float) -> PublicError:
    """The refusal of a request no wait can admit: it costs more than the bucket holds."""
    limit = int(burst) if float(burst).is_integer() else burst
    return PublicError(
        f"Query cost {cost} is over the throttle's burst of {limit} (THROTTLE_BURST): the most"
        " one request of this key can ever spend; ask for smaller pages",
        "THROTTLE_BURST_EXCEEDED",
        cost=cost,
        burst=limit,
    )


def throttled(cost: int, retry_after: float) -> PublicError:
    seconds = math.ceil(retry_after)
    return PublicError(
        f"This key has spent its query budget; retry in {seconds} s (cost {cost})",
        "THROTTLED",
        retryAfter=seconds,
    )


class QueryCost(SchemaExtension):
    """Refuses a document over the limit before it executes, throttles per key when a budget
    is set, and reports ``extensions.cost.requestedQueryCost`` on every answer."""

    limit: int = 0
    throttle: Throttle | None = None

    def __init__(self) -> None:
        self.cost: int | None = None

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            self.cost = document_cost(
                context.schema._schema,
                document,
                context.variables,
                context.operation_name,
                getattr(context.context, "settings", None),
            )
            error = self._refusal(self.cost)
            if error is not None:
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(str(error), original_error=error, extensions=error.extensions)
                    ],
                )
        yield

    def _refusal(self, cost: int) -> PublicError | None:
        if cost > self.limit:
            return over_limit(cost, self.limit)
        viewer = getattr(self.execution_context.context, "viewer_or_none", None)
        if self.throttle is None or viewer is None:
            return None
        if cost > self.throttle.capacity:  # no refill ever admits it: no Retry-After
            return over_burst(cost, self.throttle.capacity)
        wait = self.throttle.take(viewer.key_id, cost)
        if not wait:
            return None
        response = getattr(self.execution_context.context, "response", None)
        if response is not None:
            response.headers["Retry-After"] = str(math.ceil(wait))
        return throttled(cost, wait)

    def get_results(self) -> dict[str, Any]:
        if self.cost is None:
            return {}
        return {"cost": {"requestedQueryCost": self.cost, "maximumAvailable": self.limit}}


def extension(limit: int, throttle: Throttle | None) -> type[QueryCost]:
    """The extension class for one schema (its limit and budget)."""
    return type("QueryCost", (QueryCost,), {"limit": limit, "throttle": throttle})
