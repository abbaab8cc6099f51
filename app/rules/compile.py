"""The SQL compiler: a rule tree to one boolean SQL expression over a member row.

The expression reads the member as ``m`` (members) and its company as ``c`` (companies,
LEFT JOINed by the caller). Unknown is SQL NULL, so that NOT unknown stays unknown, and
every type check is a CASE WHEN ... END that yields NULL on a type mismatch: the result
is TRUE exactly when the Python evaluator says True. Literals are always bound as ``$n``
parameters; only attribute keys (restricted by the grammar to [A-Za-z_][A-Za-z0-9_]*)
are inlined, into JSON paths.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from app.rules import nodes
from app.rules.fields import FieldSpec, field_spec
from app.rules.values import BUCKETS, as_utc, literal_timestamp, percent_threshold, salt_offset

Dialect = Literal["postgres", "sqlite"]
_SQL_OPS = {"=": "=", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_ORDERING = {"<", "<=", ">", ">="}
_JSON_TYPES = {
    # the rule's literal type -> (postgres jsonb_typeof, sqlite json_type) of matching values
    "string": ("= 'string'", "= 'text'"),
    "number": ("= 'number'", "IN ('integer', 'real')"),
    "boolean": ("= 'boolean'", "IN ('true', 'false')"),
}
_PG_CASTS = {"string": "text", "number": "numeric", "boolean": "boolean"}

# a column holding a JSON field's value of one literal type, or None (see compile_sql)
Held = Callable[[FieldSpec, str], str | None]


def typed_value(spec: FieldSpec, kind: str, dialect: Dialect) -> str | None:
    """The SQL of a JSON field's value when it has the literal type ``kind`` (NULL when it
    has another), over ``m`` and ``c``; None when the field never can have it."""
    return _Compiler(dialect, 0, str, datetime.now(UTC), 0).typed(spec, kind)


def compile_sql(
    node: nodes.Node,
    *,
    dialect: Dialect,
    salt: int,
    in_segment_sql: Callable[[str], str],
    now: datetime | None = None,
    param_offset: int = 0,
    params: list[Any] | None = None,
    held: Held | None = None,
) -> tuple[str, list[Any]]:
    """A boolean SQL expression for the rule, and its parameters ($n from param_offset + 1).

    ``in_segment_sql(name)`` gives the SQL for an in_segment() test (embedded as is);
    ``now`` (default: the clock, read once) is what days_ago() counts back from. With
    ``params``, the rule's parameters are appended to that list and numbered after what it
    holds (param_offset is then ignored): rules nested through in_segment() share one list.
    ``held(spec, kind)`` may name a column that already holds ``typed_value(spec, kind)``
    (computed once a member for many rules), or return None to compile it inline.
    """
    if dialect not in ("postgres", "sqlite"):
        raise ValueError(f"unknown SQL dialect: {dialect!r}")
    compiler = _Compiler(
        dialect, salt_offset(salt), in_segment_sql, as_utc(now or datetime.now(UTC)), param_offset
    )
    compiler.held = held
    if params is not None:
        compiler.params, compiler.offset = params, 0
    return compiler.node(node), compiler.params


class _Compiler:
    def __init__(
        self,
        dialect: Dialect,
        salt: int,
        in_segment_sql: Callable[[str], str],
        now: datetime,
        param_offset: int,
    ) -> None:
        self.pg = dialect == "postgres"
        self.salt = salt
        self.in_segment_sql = in_segment_sql
        self.now = now
        self.offset = param_offset
        self.params: list[Any] = []
        self.held: Held | None = None

    @property
    def null(self) -> str:
        return "CAST(NULL AS boolean)" if self.pg else "NULL"

    def param(self, value: Any, pg_type: str) -> str:
        # Postgres must be told each parameter's type where the context leaves it open.
        self.params.append(value)
        number = self.offset + len(self.params)
        return f"${number}::{pg_type}" if self.pg else f"${number}"

    # ------------------------------------------------------------ nodes

    def node(self, node: nodes.Node) -> str:
        match node:
            case nodes.And(operands):
                return "(" + " AND ".join(self.node(o) for o in operands) + ")"
            case nodes.Or(operands):
                return "(" + " OR ".join(self.node(o) for o in operands) + ")"
            case nodes.Not(operand):
                return f"(NOT {self.node(operand)})"
            case nodes.Compare(path, op, literal):
                return self.compare(field_spec(path), op, literal)
            case nodes.InList(path, values, negated):
                found = self.in_list(field_spec(path), values)
                return f"(NOT {found})" if negated else found
            case nodes.IsNull(path, negated):
                is_null = self.is_null(field_spec(path))
                return f"(NOT {is_null})" if negated else is_null
            case nodes.Between(path, low, high):
                spec = field_spec(path)
                return f"({self.compare(spec, '>=', low)} AND {self.compare(spec, '<=', high)})"
            case nodes.TextMatch(path, op, text):
                return self.match(field_spec(path), op, text)
            case nodes.Percent(percent):
                salt = self.param(self.salt, "integer")
                threshold = self.param(percent_threshold(percent), "integer")
                return f"(((m.bucket + {salt}) % {BUCKETS}) < {threshold})"
            case nodes.InSegment(name):
                return f"({self.in_segment_sql(name)})"
        raise TypeError(f"not a rule node: {node!r}")

    def compare(self, spec: FieldSpec, op: str, literal: nodes.Value) -> str:
        if spec.kind == "timestamp":
            return self.timestamp_compare(spec, op, literal)
        if self.pg and spec.kind == "json" and self.held is None:
            path = self.json_path_compare(spec, op, literal)
            if path is not None:
                return path
        typed = self.typed(spec, literal.kind)
        if typed is None:
            return self.null
        if self.pg and op in _ORDERING and literal.kind == "string":
            # byte order, as Python compares strings, whatever the database's collation
            typed += ' COLLATE "C"'
        return f"({typed} {_SQL_OPS[op]} {self.literal(literal)})"

    def json_path_compare(self, spec: FieldSpec, op: str, literal: nodes.Value) -> str | None:
        """A JSON field compared with a number on PostgreSQL as one SQL/JSON path predicate:
        the field read once, and no text in between (the CASE of typed() reads it twice and
        parses its text: 2x the time of the hand-written ``(a->>'k')::numeric > $1`` a member,
        this is as fast). Unknown where typed() is NULL: the unary + fails (unknown, silent)
        on any value but a number, JSON null included (a bare comparison with null is false
        in a path, not unknown), and strict mode makes a missing key or an array unknown."""
        if literal.kind != "number" or not isinstance(literal, nodes.Number):
            return None
        number = Decimal(repr(literal.value))
        if not number.is_finite():
            return None
        keys = "".join(f'."{key}"' for key in spec.keys)  # identifiers: nothing to escape
        operator = "==" if op == "=" else _SQL_OPS[op].replace("<>", "!=")
        variables = self.param(f'{{"v": {number}}}', "jsonb")
        return (
            f"jsonb_path_match({self.column(spec)}, 'strict +${keys} {operator} $v',"
            f" {variables}, true)"
        )

    def timestamp_compare(self, spec: FieldSpec, op: str, literal: nodes.Value) -> str:
        moment = literal_timestamp(literal, self.now)
        if moment is None:
            return self.null
        column = self.column(spec)
        if self.pg:
            return f"({column} {_SQL_OPS[op]} {self.param(moment, 'timestamptz')})"
        return (
            f"({_sqlite_time_key(column)} {_SQL_OPS[op]} {self.param(_time_key(moment), 'text')})"
        )

    def in_list(self, spec: FieldSpec, values: tuple[nodes.Value, ...]) -> str:
        terms: list[str] = []
        if spec.kind == "timestamp":
            terms = [self.timestamp_compare(spec, "=", v) for v in values]
        else:
            unknown = False
            for kind in ("string", "number", "boolean", "days_ago"):
                group = [v for v in values if v.kind == kind]
                typed = self.typed(spec, kind) if group else None
                if typed is None:
                    unknown = unknown or bool(group)
                    continue
                listed = ", ".join(self.literal(v) for v in group)
                terms.append(f"({typed} IN ({listed}))")
            if unknown:
                # an element of another type than the value compares as unknown
                terms.append(self.null)
        return terms[0] if len(terms) == 1 else "(" + " OR ".join(terms) + ")"

    def is_null(self, spec: FieldSpec) -> str:
        column = self.column(spec)
        if spec.kind != "json":
            return f"({column} IS NULL)"
        if self.pg:
            return f"(COALESCE(jsonb_typeof({self.pg_json(spec)}), 'null') = 'null')"
        return f"(COALESCE(json_type({column}, {_sqlite_path(spec)}), 'null') = 'null')"

    def match(self, spec: FieldSpec, op: str, text: str) -> str:
        if spec.kind == "timestamp":
            return self.null
        value = self.param(text, "text")
        if spec.kind == "text":
            return self.string_match(self.column(spec), op, value)
        string = self.typed(spec, "string")
        assert string is not None
        if op != "CONTAINS":
            return self.string_match(string, op, value)
        if self.pg:
            json = self.pg_json(spec)
            return (
                f"(CASE jsonb_typeof({json})"
                f" WHEN 'string' THEN {self.string_match(string, op, value)}"
                f" WHEN 'array' THEN {json} @> jsonb_build_array({value}) END)"
            )
        column, path = self.column(spec), _sqlite_path(spec)
        return (
            f"(CASE json_type({column}, {path})"
            f" WHEN 'text' THEN {self.string_match(string, op, value)}"
            f" WHEN 'array' THEN EXISTS (SELECT 1 FROM json_each({column}, {path}) AS e"
            f" WHERE e.type = 'text' AND e.value = {value}) END)"
        )

    def string_match(self, string: str, op: str, value: str) -> str:
        # Case-sensitive by construction: SQLite's LIKE would ignore case, so no LIKE here.
        if op == "CONTAINS":
            position = "strpos" if self.pg else "instr"
            return f"({position}({string}, {value}) > 0)"
        if op == "STARTS WITH":
            if self.pg:
                return f"starts_with({string}, {value})"
            return f"(substr({string}, 1, length({value})) = {value})"
        if self.pg:
            return f"(right({string}, length({value})) = {value})"
        return (
            f"(length({string}) >= length({value})"
            f" AND substr({string}, length({string}) - length({value}) + 1) = {value})"
        )

    # ------------------------------------------------------------ values

    def column(self, spec: FieldSpec) -> str:
        return f"{'m' if spec.owner == 'member' else 'c'}.{spec.column}"

    def pg_json(self, spec: FieldSpec) -> str:
        # one key with ->, which looks it up, where #> reads a path from a text array first
        if len(spec.keys) == 1:
            return f"({self.column(spec)} -> '{spec.keys[0]}')"
        return f"({self.column(spec)} #> '{{{','.join(spec.keys)}}}')"

    def pg_text(self, spec: FieldSpec) -> str:
        """The JSON field as text (->>, #>>): a string's own text."""
        if len(spec.keys) == 1:
            return f"({self.column(spec)} ->> '{spec.keys[0]}')"
        return f"({self.column(spec)} #>> '{{{','.join(spec.keys)}}}')"

    def typed(self, spec: FieldSpec, kind: str) -> str | None:
        """The field's value when it has the literal's type, else NULL; None if it never can."""
        if spec.kind == "text":
            return self.column(spec) if kind == "string" else None
        if spec.kind != "json" or kind not in _JSON_TYPES:
            return None
        held = self.held(spec, kind) if self.held is not None else None
        if held is not None:
            return held
        pg_type, sqlite_type = _JSON_TYPES[kind]
        if self.pg:
            json = self.pg_json(spec)
            # (a jsonb number or boolean casts to numeric or boolean without its text)
            value = {
                "string": self.pg_text(spec),
                "number": f"({json})::numeric",
                "boolean": f"({json})::boolean",
            }[kind]
            return f"(CASE WHEN jsonb_typeof({json}) {pg_type} THEN {value} END)"
        column, path = self.column(spec), _sqlite_path(spec)
        return (
            f"(CASE WHEN json_type({column}, {path}) {sqlite_type}"
            f" THEN json_extract({column}, {path}) END)"
        )

    def literal(self, literal: nodes.Value) -> str:
        if isinstance(literal, nodes.Number) and self.pg:
            # jsonb numbers are numeric: bind the literal as the decimal its text reads as
            # (repr is the shortest such text), not as the float's exact binary expansion.
            return self.param(Decimal(repr(literal.value)), "numeric")
        if isinstance(literal, nodes.String | nodes.Number | nodes.Boolean):
            return self.param(literal.value, _PG_CASTS[literal.kind])
        raise TypeError(f"not a comparable literal: {literal!r}")


def _sqlite_path(spec: FieldSpec) -> str:
    return "'$." + ".".join(spec.keys) + "'"


def _time_key(moment: datetime) -> str:
    """A UTC instant as fixed-width text that sorts as time: 'YYYY-MM-DD HH:MM:SS.ffffff'."""
    m = as_utc(moment)
    return (
        f"{m.year:04d}-{m.month:02d}-{m.day:02d} "
        f"{m.hour:02d}:{m.minute:02d}:{m.second:02d}.{m.microsecond:06d}"
    )


def _sqlite_time_key(column: str) -> str:
    """The same key for a timestamp column as Tortoise stores it on SQLite.

    Tortoise writes ``str(datetime)``: '2024-05-01 10:00:00.123456+02:00', the offset kept
    and the fraction left out when it is zero, so the text does not sort as time. strftime
    brings it to UTC but keeps only whole seconds (julianday() and friends round to
    milliseconds), so the microseconds are cut out first and put back after.
    """
    dot = f"instr({column}, '.')"
    rest = f"substr({column}, {dot} + 1)"  # the fraction's digits, then the offset
    digits = f"(length({rest}) - length(ltrim({rest}, '0123456789')))"
    fraction = f"substr(substr({rest}, 1, {digits}) || '000000', 1, 6)"
    offset = f"substr({rest}, {digits} + 1)"
    seconds = "'%Y-%m-%d %H:%M:%S'"
    return (
        f"(CASE WHEN {dot} = 0 THEN strftime({seconds}, {column}) || '.000000'"
        f" ELSE strftime({seconds}, substr({column}, 1, {dot} - 1) || {offset})"
        f" || '.' || {fraction} END)"
    )
