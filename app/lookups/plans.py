"""Plans for hot documents: the lookups servers repeat thousands of times, answered without
walking the GraphQL executor field by field.

A document the HTTP layer sees often (``HOT`` times), and every persisted query at once, is
examined once (kept by its text, least recently used out): when it is one query operation
selecting one root field a plan knows, with no fragment and no directive, valid for the
schema, within the document limits and the cost limit, it becomes a ``Plan``. The fields a
plan knows are ``RootField``s given by the domains: this one's isMember, memberSegments and
membershipsOf, and the flags' evaluateFlags (app.flags.plans); for a field returning
objects, a selection of the leaves it lists (scalar fields and ``__typename``), aliased or
not, each response key once.

A request with a planned document has its variables coerced and its arguments read by
graphql-core's own functions (those the executor calls; for a plan whose variables are all
IDs and Strings, a request giving each a string, or a list of strings, has them read as
those functions would read them, without their walk: ``_Direct``), its inputs checked by
the input guard, then the service the resolver calls is called and its answer written as the
executor writes it. Whenever the executor would answer with an error (a variable that does
not coerce, a value over a limit, an unknown segment, too many ids), the plan gives the
request back (None) and the executor answers it, with its own words. Every other document
goes to the executor too. The HTTP layer asks the registry, and nothing else, for a plan.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLSchema,
    GraphQLString,
    GraphQLSyntaxError,
    OperationDefinitionNode,
    OperationType,
    parse,
    type_from_ast,
    validate,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values

from app.db import parse_pk
from app.graphql import cost, limits
from app.graphql.input_guard import BadInput, InputLimits, variables_check
from app.lookups import service
from app.memberships.catalogue import SegmentDef
from app.settings import Settings

HOT = 2  # sightings of a document before it is examined (a persisted query: at once)
MAX_DOCUMENTS = 512
MAX_TEXT = 4000  # characters: a longer document is never examined


class Unanswered(Exception):
    """Raised by a root field's answer: the executor is to answer (with its error)."""


# (site, the field's coerced arguments by GraphQL name, settings) -> the field's value
Answer = Callable[[int, dict[str, Any], Settings], Awaitable[Any]]
# (an item of the field's list, now) -> the JSON value of one of its leaves
Leaf = Callable[[Any, datetime], Any]
# (site, the field's arguments, the operation's coerced variables, settings) -> the JSON value
# of the field with its whole selection
Writer = Callable[[int, dict[str, Any], VariableValues, Settings], Awaitable[Any]]
# (the field's node, the schema) -> the writer of that selection, None when it writes none
Shaper = Callable[[FieldNode, GraphQLSchema], Writer | None]


@dataclass(frozen=True, slots=True)
class RootField:
    """A root query field a plan may answer: its answer, and for a field returning a list of
    objects, the leaves a plan may select (None: the field is itself a leaf). A field whose
    selection goes deeper gives ``shaped`` instead: the writer of a selection it knows."""

    name: str
    answer: Answer | None = None
    leaves: Mapping[str, Leaf] | None = None
    shaped: Shaper | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    key: str  # the response key
    name: str | None  # the operation's name
    cost: int  # extensions.cost.requestedQueryCost
    root: RootField
    definition: GraphQLField
    node: FieldNode
    operation: OperationDefinitionNode
    selection: tuple[tuple[str, Leaf], ...]  # (response key, leaf) of each object
    check: Callable[[Mapping[str, Any] | None], None]  # the input guard's, on variables
    writer: Writer | None = None  # a shaped field's
    document: DocumentNode | None = None  # kept when the cost depends on variables
    # when every variable is an ID or a String (or a list of them): the arguments as
    # graphql-core coerces them from string values, without its walk (``_Direct``)
    direct: _Direct | None = None

    def cost_of(self, schema: GraphQLSchema, variables: dict[str, Any] | None) -> int:
        """extensions.cost.requestedQueryCost of a request (a page size may be a variable)."""
        if self.document is None:
            return self.cost
        return cost.document_cost(schema, self.document, variables or {}, self.name)

    async def run(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        site_id: int,
    ) -> dict[str, Any] | None:
        """The answer's data, or None to leave the request to the executor."""
        if operation_name is not None and operation_name != self.name:
            return None
        arguments = None if self.direct is None else self.direct.arguments(variables)
        coerced: VariableValues | None = None
        if arguments is None:
            found = get_variable_values(
                schema, self.operation.variable_definitions or (), variables or {}, max_errors=1
            )
            if isinstance(found, list):
                return None  # the executor words the error
            coerced = found
        if self.document is not None and self.cost_of(schema, variables) > settings.max_query_cost:
            return None  # MAX_COST_EXCEEDED
        try:
            self.check(variables)
            if coerced is not None:
                arguments = get_argument_values(self.definition, self.node, coerced)
            assert arguments is not None
            if self.writer is not None:
                assert coerced is not None
                return {self.key: await self.writer(site_id, arguments, coerced, settings)}
            assert self.root.answer is not None
            value = await self.root.answer(site_id, arguments, settings)
        except (BadInput, GraphQLError, Unanswered):
            return None
        if not self.selection:
            return {self.key: value}
        now = datetime.now(UTC)
        selection = self.selection
        return {self.key: [{key: leaf(item, now) for key, leaf in selection} for item in value]}


@dataclass
class Plans:
    """The registry: each document seen, its number of sightings, then its plan (or None)."""

    fields: Iterable[RootField]
    settings: Settings
    hot: int = HOT
    schema: GraphQLSchema | None = None
    _fields: dict[str, RootField] = field(init=False)
    _seen: OrderedDict[str, int | Plan | None] = field(init=False, default_factory=OrderedDict)

    def __post_init__(self) -> None:
        self._fields = {f.name: f for f in self.fields}

    def bind(self, schema: GraphQLSchema) -> None:
        """The schema the documents are read against (the HTTP layer's)."""
        self.schema = schema
        self._seen.clear()

    def find(self, query: str, *, persisted: bool = False) -> Plan | None:
        """The plan of a document, once it is hot (None: the executor answers it)."""
        if self.schema is None or len(query) > MAX_TEXT:
            return None
        seen = self._seen.get(query)
        if seen is None and query not in self._seen:
            seen = 0
        elif not isinstance(seen, int):
            self._seen.move_to_end(query)
            return seen
        seen += 1
        found: int | Plan | None = seen
        if persisted or seen >= self.hot:
            found = self._examine(query)
        self._seen[query] = found
        self._seen.move_to_end(query)
        if len(self._seen) > MAX_DOCUMENTS:
            self._seen.popitem(last=False)
        return found if isinstance(found, Plan) else None

    async def answer(
        self,
        query: str,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        site_id: int,
        *,
        persisted: bool = False,
    ) -> tuple[Plan, dict[str, Any]] | None:
        """The plan of the document and the answer's data, or None for the executor."""
        plan = self.find(query, persisted=persisted)
        if plan is None or self.schema is None:
            return None
        data = await plan.run(self.schema, self.settings, variables, operation_name, site_id)
        return None if data is None else (plan, data)

    def _examine(self, query: str) -> Plan | None:
        schema, settings = self.schema, self.settings
        assert schema is not None
        try:
            document = parse(query, no_location=True, max_tokens=settings.max_tokens)
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
            or any(v.directives for v in operation.variable_definitions or ())
        ):
            return None
        node = operation.selection_set.selections[0]
        if not isinstance(node, FieldNode) or node.directives:
            return None
        root = self._fields.get(node.name.value)
        query_type = schema.query_type
        if root is None or query_type is None or node.name.value not in query_type.fields:
            return None
        writer = None
        if root.shaped is not None:
            writer = root.shaped(node, schema)
            if writer is None:
                return None
            selection: tuple[tuple[str, Leaf], ...] | None = ()
        else:
            selection = _selection(root, node)
        if selection is None:
            return None
        document_limits = limits.DocumentLimits(
            max_depth=settings.max_query_depth,
            max_aliases=settings.max_aliases,
            max_selections=settings.max_selections,
        )
        if limits.check(document, document_limits) or validate(schema, document):
            return None
        requested = cost.document_cost(schema, document)
        if requested > settings.max_query_cost:
            return None
        try:
            check = variables_check(schema, document, InputLimits.of(settings))
        except BadInput:
            return None
        definition = query_type.fields[node.name.value]
        return Plan(
            key=node.alias.value if node.alias else node.name.value,
            name=operation.name.value if operation.name else None,
            cost=requested,
            root=root,
            definition=definition,
            node=node,
            operation=operation,
            selection=selection,
            check=check,
            writer=writer,
            document=document if cost.varies(schema, document) else None,
            direct=None if writer is not None else _Direct.of(schema, operation, definition, node),
        )


_PROBE = "\u27c2probe\u27c2"  # a string no request sends: where a variable lands


@dataclass(frozen=True, slots=True)
class _Direct:
    """The arguments of a plan whose variables are all IDs or Strings, or lists of them
    (items not null), none with a default: graphql-core coerces a string value of those
    types to itself and a list of them to a copy, so the arguments are those of the
    document's literals and defaults (``constants``, read once) with each variable's value
    in its place (``slots``). A request whose values are anything else (a number for an
    ID, a missing or null value, a lone string for a list) takes graphql-core's path."""

    variables: tuple[tuple[str, bool], ...]  # (name, a list) of every variable defined
    constants: tuple[tuple[str, Any], ...]
    slots: tuple[tuple[str, str, bool], ...]  # (argument, variable, a list)
    mutable: bool = False

    def arguments(self, values: dict[str, Any] | None) -> dict[str, Any] | None:
        if values is None:
            return None if self.variables else dict(self.constants)
        for name, listed in self.variables:
            value = values.get(name)
            if listed:
                if type(value) is not list or any(type(item) is not str for item in value):
                    return None
            elif type(value) is not str:
                return None
        found = dict(self.constants)
        if self.mutable:  # a literal list or object: each request its own
            found = copy.deepcopy(found)
        for argument, name, listed in self.slots:
            found[argument] = list(values[name]) if listed else values[name]
        return found

    @classmethod
    def of(
        cls,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        definition: GraphQLField,
        node: FieldNode,
    ) -> _Direct | None:
        variables: list[tuple[str, bool]] = []
        probes: dict[str, Any] = {}
        for i, defined in enumerate(operation.variable_definitions or ()):
            if defined.default_value is not None:
                return None
            kind: Any = type_from_ast(schema, defined.type)
            if isinstance(kind, GraphQLNonNull):
                kind = kind.of_type
            listed = isinstance(kind, GraphQLList)
            if listed:
                if not isinstance(kind.of_type, GraphQLNonNull):
                    return None
                kind = kind.of_type.of_type
            if kind is not GraphQLID and kind is not GraphQLString:
                return None
            name = defined.variable.name.value
            variables.append((name, listed))
            probe = f"{_PROBE}{i}"
            probes[name] = [probe] if listed else probe
        coerced = get_variable_values(schema, operation.variable_definitions or (), probes)
        if isinstance(coerced, list):
            return None
        try:
            found = get_argument_values(definition, node, coerced)
        except GraphQLError:
            return None
        constants, slots = [], []
        by_probe = {(v[0] if isinstance(v, list) else v): k for k, v in probes.items()}
        for argument, value in found.items():
            if isinstance(value, str) and value in by_probe:
                slots.append((argument, by_probe[value], False))
            elif (
                isinstance(value, list)
                and len(value) == 1
                and value[0] in by_probe
                and isinstance(probes[by_probe[value[0]]], list)
            ):
                slots.append((argument, by_probe[value[0]], True))
            elif _PROBE in repr(value):
                return None  # a variable inside a value: graphql-core's path
            else:
                constants.append((argument, value))
        mutable = any(isinstance(value, list | dict) for _, value in constants)
        return cls(tuple(variables), tuple(constants), tuple(slots), mutable)


def leaf_keys(node: FieldNode, known: Container[str]) -> tuple[tuple[str, str], ...] | None:
    """(response key, field name) of a selection of leaves among ``known``; None when it is
    not one a plan writes (no selection, a fragment, a directive, arguments, a key twice)."""
    if node.selection_set is None:
        return None
    found: dict[str, str] = {}
    for selected in node.selection_set.selections:
        if (
            not isinstance(selected, FieldNode)
            or selected.directives
            or selected.arguments
            or selected.selection_set is not None
            or selected.name.value not in known
        ):
            return None
        key = selected.alias.value if selected.alias else selected.name.value
        if key in found:
            return None
        found[key] = selected.name.value
    return tuple(found.items())


def _selection(root: RootField, node: FieldNode) -> tuple[tuple[str, Leaf], ...] | None:
    """The (response key, leaf) of the field's selection, () for a leaf field, None when the
    selection is not one a plan writes."""
    leaves = root.leaves
    if leaves is None:
        return () if node.selection_set is None else None
    keys = leaf_keys(node, leaves)
    return None if keys is None else tuple((key, leaves[name]) for key, name in keys)


# ---------------------------------------------------------------- this domain's fields


def _now_only(arguments: dict[str, Any]) -> None:
    """A plan answers for now; the past (``at``) is read from the record by the resolver."""
    if arguments.get("at") is not None:
        raise Unanswered


async def _is_member(site_id: int, arguments: dict[str, Any], settings: Settings) -> bool:
    _now_only(arguments)
    found = await service.is_member(
        site_id=site_id,
        segment_pk=parse_pk(arguments["segmentId"]),
        external_id=arguments["memberId"],
    )
    if found is None:
        raise Unanswered  # NOT_FOUND, as the executor says it
    return found


async def _member_segments(
    site_id: int, arguments: dict[str, Any], settings: Settings
) -> list[SegmentDef]:
    _now_only(arguments)
    key = (arguments["memberId"], bool(arguments.get("includeInactive")))
    return (await service.segments_of_members(site_id=site_id, keys=[key]))[key]


async def _memberships_of(
    site_id: int, arguments: dict[str, Any], settings: Settings
) -> list[tuple[str, list[str]]]:
    member_ids: list[str] = arguments["memberIds"]
    if len(member_ids) > settings.max_lookup_ids:
        raise Unanswered  # TOO_LARGE
    return await service.memberships_of(site_id=site_id, external_ids=member_ids)


def _moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


SEGMENT_LEAVES: dict[str, Leaf] = {
    "__typename": lambda s, now: "Segment",
    "id": lambda s, now: str(s.pk),
    "name": lambda s, now: s.name,
    "description": lambda s, now: s.description,
    "type": lambda s, now: s.type.name,
    "isActive": lambda s, now: s.is_active,
    "startsAt": lambda s, now: _moment(s.starts_at),
    "endsAt": lambda s, now: _moment(s.ends_at),
    "status": lambda s, now: s.status(now).name,
    "rule": lambda s, now: s.rule_text,
    "createdAt": lambda s, now: _moment(s.created_at),
    "updatedAt": lambda s, now: _moment(s.updated_at),
}

FIELDS = (
    RootField("isMember", _is_member),
    RootField("memberSegments", _member_segments, SEGMENT_LEAVES),
    RootField(
        "membershipsOf",
        _memberships_of,
        {
            "__typename": lambda a, now: "MemberSegments",
            "memberId": lambda a, now: a[0],
            "segmentIds": lambda a, now: a[1],
        },
    ),
)
