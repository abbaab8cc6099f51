"""Every input value checked at the edge, before anything runs: one walk of the document's
literals (cached with the document) and of the request's variables, typed by the schema.

Refused with ``extensions.code: BAD_USER_INPUT`` and the limit named in the message:
strings with NUL characters or lone surrogates (PostgreSQL cannot store the one, no
encoder can write the other), strings over their limit (ids, keys, names, searches, any
string), JSON nested deeper than its limit or holding numbers the databases cannot hold
(integers past 64 bits, non-finite floats), non-finite floats, and DateTimes that have no
UTC time (``9999-12-31T23:59:59-23:59``). The same limits on every backend.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from functools import lru_cache
from typing import Any

import dateutil.parser  # type: ignore[import-untyped]
from graphql import (
    ArgumentNode,
    BooleanValueNode,
    DocumentNode,
    EnumValueNode,
    FloatValueNode,
    GraphQLError,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLScalarType,
    GraphQLSchema,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectFieldNode,
    ObjectValueNode,
    OperationDefinitionNode,
    OperationType,
    StringValueNode,
    TypeInfo,
    TypeInfoVisitor,
    ValueNode,
    VariableNode,
    Visitor,
    get_named_type,
    is_input_type,
    type_from_ast,
    visit,
)
from strawberry.extensions import SchemaExtension

from app.settings import Settings

# columns hold at most this many characters: the same limit on SQLite, which would store more
_NAMED_LIMITS: dict[str, tuple[int, str]] = {
    "key": (100, "a flag key"),
    "keys": (100, "a flag key"),
    "idempotencyKey": (255, "an idempotency key"),
    "name": (255, "a name"),
    "plan": (100, "a plan"),
    "email": (320, "an email address"),
}
_SEARCHES = {"q", "search"}
_INT64 = 2**63


@dataclass(frozen=True, slots=True)
class InputLimits:
    max_id_length: int = 255
    max_search_length: int = 200
    max_string_length: int = 1024 * 1024
    max_json_depth: int = 32

    @classmethod
    def of(cls, settings: Settings) -> InputLimits:
        return cls(
            max_id_length=settings.max_id_length,
            max_search_length=settings.max_search_length,
            max_string_length=settings.max_string_length,
            max_json_depth=settings.max_json_depth,
        )


class BadInput(Exception):
    """A value refused at the edge: the message names the limit, the path where it is."""

    def __init__(self, message: str, path: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def _where(path: list[str]) -> str:
    return ".".join(map(str, path)) if path else "a value"  # a literal's path has indexes


def _safe(key: object) -> str:
    """A key for a path in an error: short, and writable whatever the caller sent."""
    text = str(key)[:40].replace("\x00", "\\x00")
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _text_problem(value: str) -> str | None:
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


def check_text(value: str, path: list[str], limit: int, what: str, setting: str) -> None:
    """Raise BadInput for a string that no column can hold or that is over its limit."""
    if len(value) > limit:
        raise BadInput(
            f"{_where(path)}: {what} of {len(value)} characters is over the limit of"
            f" {limit} characters ({setting})",
            path,
        )
    if (problem := _text_problem(value)) is not None:
        raise BadInput(f"{_where(path)} {problem}", path)


def check_id(value: str, limits: InputLimits, path: list[str] | None = None) -> None:
    check_text(value, path or [], limits.max_id_length, "an id", "MAX_ID_LENGTH")


class _Checker:
    def __init__(self, limits: InputLimits) -> None:
        self.limits = limits

    def leaf(
        self, scalar: str, value: Any, name: str | None, path: list[str], service: bool = False
    ) -> None:
        """One scalar value, named by the innermost argument or input field it is given to.
        service: a field of a mutation's input object, whose length its service checks (and
        refuses with a userError naming the field): only the generic length limit here."""
        if isinstance(value, float) and not math.isfinite(value):
            raise BadInput(f"{_where(path)}: {value} is not a finite number", path)
        if scalar == "JSON" or isinstance(value, list | Mapping):
            # JSON, or a value of the wrong shape that the executor will quote back
            self.json(value, path, 0)
            return
        if not isinstance(value, str):
            return  # a wrong type is the executor's to report
        limits = self.limits
        if service:
            check_text(value, path, limits.max_string_length, "a string", "MAX_STRING_LENGTH")
        elif scalar == "ID":
            check_id(value, limits, path)
        elif name in _SEARCHES:
            check_text(value, path, limits.max_search_length, "a search", "MAX_SEARCH_LENGTH")
        elif name in _NAMED_LIMITS:
            limit, what = _NAMED_LIMITS[name]
            check_text(value, path, limit, what, "the column's size")
        else:
            check_text(value, path, limits.max_string_length, "a string", "MAX_STRING_LENGTH")
        if scalar == "DateTime":
            self.datetime(value, path)

    def datetime(self, value: str, path: list[str]) -> None:
        try:
            parsed = dateutil.parser.isoparse(value)
        except (ValueError, OverflowError):
            return  # not a DateTime at all: the scalar says so
        try:
            parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed
        except (ValueError, OverflowError):
            raise BadInput(
                f"{_where(path)}: {value[:40]} is out of range: it has no time in UTC"
                " between years 1 and 9999",
                path,
            ) from None

    def json(self, value: Any, path: list[str], depth: int) -> None:
        limit = self.limits.max_json_depth
        if depth > limit:
            raise BadInput(
                f"{_where(path)}: JSON nested over {limit} levels deep (MAX_JSON_DEPTH)", path
            )
        if isinstance(value, Mapping):
            for key, item in value.items():
                at = [*path, _safe(key)]
                if isinstance(key, str):
                    check_text(key, at, 255, "a JSON key", "JSON keys")
                self.json(item, at, depth + 1)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.json(item, [*path, str(index)], depth + 1)
        elif isinstance(value, bool):
            return
        elif isinstance(value, int):
            if not -_INT64 <= value < _INT64:
                raise BadInput(
                    f"{_where(path)}: {str(value)[:30]} is out of range: JSON integers are 64-bit"
                    f" (from -2^63 to 2^63-1)",
                    path,
                )
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadInput(f"{_where(path)}: {value} is not a finite number", path)
        elif isinstance(value, str):
            check_text(value, path, self.limits.max_string_length, "a string", "MAX_STRING_LENGTH")

    def typed(
        self,
        kind: GraphQLInputType,
        value: Any,
        name: str | None,
        path: list[str],
        *,
        mutation: bool,
        service: bool = False,
    ) -> None:
        """A variable's value, walked along its declared type."""
        if value is None:
            return
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if isinstance(kind, GraphQLList):
            items = value if isinstance(value, list) else [value]
            if self._strings_fit(kind.of_type, items, name):
                return
            for index, item in enumerate(items):
                self.typed(kind.of_type, item, name, [*path, str(index)], mutation=mutation)
        elif isinstance(kind, GraphQLInputObjectType):
            if not isinstance(value, Mapping):
                return
            for key, item in value.items():
                field = kind.fields.get(key)
                if field is not None:
                    self.typed(
                        field.type, item, key, [*path, key], mutation=mutation, service=mutation
                    )
                else:  # refused by the executor, with the key in its message: no NUL in it
                    check_text(str(key), [*path, _safe(key)], 255, "a field name", "names")
        elif isinstance(kind, GraphQLScalarType):
            self.leaf(kind.name, value, name, path, service)

    def _strings_fit(self, kind: GraphQLInputType, items: list[Any], name: str | None) -> bool:
        """Whether a list of plain strings given to a scalar passes ``leaf`` whole (as the
        items of a list, never ``service``), checked at once: a list of 50,000 ids cost 70 ms
        a value at a time. False says nothing: the values are then walked one by one, which
        names the first one refused."""
        if isinstance(kind, GraphQLNonNull):
            kind = kind.of_type
        if not isinstance(kind, GraphQLScalarType) or kind.name in ("JSON", "DateTime"):
            return False
        if not items or set(map(type, items)) != {str}:
            return False
        limits = self.limits
        if kind.name == "ID":
            limit = limits.max_id_length
        elif name in _SEARCHES:
            limit = limits.max_search_length
        elif name in _NAMED_LIMITS:
            limit = _NAMED_LIMITS[name][0]
        else:
            limit = limits.max_string_length
        if max(map(len, items)) > limit:
            return False
        return _text_problem("".join(items)) is None


@dataclass(frozen=True, slots=True)
class _Literals:
    """What one document's literals leave to check per request: where each variable is used
    (the name of the argument or input field it is given to)."""

    problem: BadInput | None
    variable_names: dict[str, str]
    # variables given to a field of a mutation's input object (their services check lengths)
    service_variables: frozenset[str]


class _LiteralVisitor(Visitor):
    def __init__(self, type_info: TypeInfo, checker: _Checker) -> None:
        super().__init__()
        self.type_info = type_info
        self.checker = checker
        self.names: list[str] = []
        # the argument and input field names with the list indexes: where a value is given
        self.path: list[Any] = []
        self.indexed: list[bool] = []  # per object or list value entered: its index pushed
        self.containers: list[str] = []  # "argument", "field" or "list": where a value is
        self.mutation = False
        self.variable_names: dict[str, str] = {}
        self.service_variables: set[str] = set()
        self.problem: BadInput | None = None

    @property
    def _service(self) -> bool:
        return self.mutation and bool(self.containers) and self.containers[-1] == "field"

    def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
        self.mutation = node.operation is OperationType.MUTATION

    def _enter_named(self, name: str, container: str) -> None:
        self.names.append(name)
        self.path.append(name)
        self.containers.append(container)

    def _leave_named(self) -> None:
        self.names.pop()
        self.path.pop()
        self.containers.pop()

    def _at(self, key: Any) -> list[Any]:
        """The path of a value: an item of a list literal is at its index (``key``)."""
        if isinstance(key, int) and self.containers and self.containers[-1] == "list":
            return [*self.path, key]
        return list(self.path)

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self._enter_named(node.name.value, "argument")

    def leave_argument(self, node: ArgumentNode, *_: Any) -> None:
        self._leave_named()

    def enter_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self._enter_named(node.name.value, "field")

    def leave_object_field(self, node: ObjectFieldNode, *_: Any) -> None:
        self._leave_named()

    def enter_variable(self, node: VariableNode, *_: Any) -> None:
        if self.names:
            self.variable_names[node.name.value] = self.names[-1]
        if self._service:
            self.service_variables.add(node.name.value)

    def _scalar(self, node: ValueNode, key: Any = None) -> None:
        if self.problem is not None:
            return
        kind = self.type_info.get_input_type()
        named = get_named_type(kind) if kind is not None else None
        if not isinstance(named, GraphQLScalarType):
            return
        try:
            value = _literal(node)
            name = self.names[-1] if self.names else None
            self.checker.leaf(named.name, value, name, self._at(key), self._service)
        except BadInput as e:
            self.problem = e

    def enter_string_value(self, node: StringValueNode, key: Any = None, *_: Any) -> None:
        self._scalar(node, key)

    def enter_float_value(self, node: FloatValueNode, key: Any = None, *_: Any) -> None:
        self._scalar(node, key)

    def enter_int_value(self, node: IntValueNode, key: Any = None, *_: Any) -> None:
        self._scalar(node, key)

    def enter_object_value(self, node: ObjectValueNode, key: Any = None, *_: Any) -> Any:
        kind = self.type_info.get_input_type()
        named = get_named_type(kind) if kind is not None else None
        if isinstance(named, GraphQLScalarType) and named.name == "JSON":
            self._scalar(node, key)
            return False  # checked whole: its inner nodes are not typed by the schema
        self._enter_item(key)
        return None

    def leave_object_value(self, node: ObjectValueNode, *_: Any) -> None:
        self._leave_item()

    def enter_list_value(self, node: ListValueNode, key: Any = None, *_: Any) -> Any:
        if self.enter_object_value(node, key) is False:  # type: ignore[arg-type]
            return False
        self.containers.append("list")
        return None

    def leave_list_value(self, node: ListValueNode, *_: Any) -> None:
        self.containers.pop()
        self._leave_item()

    def _enter_item(self, key: Any) -> None:
        """An object or list value entered: when it is an item of a list, its index."""
        item = isinstance(key, int) and bool(self.containers) and self.containers[-1] == "list"
        if item:
            self.path.append(key)
        self.indexed.append(item)

    def _leave_item(self) -> None:
        if self.indexed.pop():
            self.path.pop()


def _literal(node: ValueNode, depth: int = 0) -> Any:
    """A literal's value as JSON would carry it (cut off past any sane depth)."""
    if depth > 64:  # past the JSON depth limit already: what is below does not matter
        return None
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, IntValueNode):
        return int(node.value) if len(node.value) < 40 else float("inf")
    if isinstance(node, FloatValueNode):
        return float(node.value)
    if isinstance(node, BooleanValueNode):
        return node.value
    if isinstance(node, NullValueNode | VariableNode):
        return None
    if isinstance(node, ListValueNode):
        return [_literal(v, depth + 1) for v in node.values]
    if isinstance(node, ObjectValueNode):
        return {f.name.value: _literal(f.value, depth + 1) for f in node.fields}
    return None


@lru_cache(maxsize=1024)
def _literals(schema: GraphQLSchema, document: DocumentNode, limits: InputLimits) -> _Literals:
    type_info = TypeInfo(schema)
    visitor = _LiteralVisitor(type_info, _Checker(limits))
    visit(document, TypeInfoVisitor(type_info, visitor))
    return _Literals(visitor.problem, visitor.variable_names, frozenset(visitor.service_variables))


def check_request(
    schema: GraphQLSchema,
    document: DocumentNode,
    variables: Mapping[str, Any] | None,
    limits: InputLimits,
) -> None:
    """Raise BadInput for the first value of the document or its variables that is refused."""
    if variables:
        variables_check(schema, document, limits)(variables)
        return
    problem = _literals(schema, document, limits).problem
    if problem is not None:
        raise problem


def variables_check(
    schema: GraphQLSchema, document: DocumentNode, limits: InputLimits
) -> Callable[[Mapping[str, Any] | None], None]:
    """check_request in two steps, for a document kept and run many times (app.lookups.plans):
    the document's literals are checked now (BadInput), the function returned checks the
    variables of each request (BadInput)."""
    literals = _literals(schema, document, limits)
    if literals.problem is not None:
        raise literals.problem
    checker = _Checker(limits)
    typed = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        mutation = definition.operation is OperationType.MUTATION
        for variable in definition.variable_definitions or ():
            name = variable.variable.name.value
            kind = type_from_ast(schema, variable.type)
            if is_input_type(kind):
                service = name in literals.service_variables
                typed.append((name, kind, literals.variable_names.get(name), mutation, service))

    def check(variables: Mapping[str, Any] | None) -> None:
        if not variables:
            return
        for name, kind, named, mutation, service in typed:
            if name in variables:
                checker.typed(
                    kind, variables[name], named, [name], mutation=mutation, service=service
                )

    return check


def bad_input_error(error: BadInput) -> GraphQLError:
    return GraphQLError(error.message, extensions={"code": "BAD_USER_INPUT", "field": error.path})


def input_guard(limits: InputLimits) -> type[SchemaExtension]:
    """An extension refusing a request whose inputs are over a limit before it runs. It comes
    after the validation extension, so it checks only documents that fit the schema."""

    class InputGuard(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            context: Any = self.execution_context
            if not context.pre_execution_errors and context.graphql_document is not None:
                try:
                    check_request(
                        context.schema._schema, context.graphql_document, context.variables, limits
                    )
                except BadInput as e:
                    context.pre_execution_errors = [bad_input_error(e)]
            yield

    return InputGuard
