"""``segment(id)`` as a root field the plans for hot documents answer (app.lookups.plans): a
segment's page, its fields, memberCount, companyCount and one page of ``members``, read by
app.segments.page in two statements and written as the executor writes it.

The selection a plan writes: the segment's scalar fields (those of memberSegments), its two
counts, and at most one ``members(first, after)`` (no ``search``) selecting ``__typename``,
``totalCount``, ``pageInfo { ... }`` and ``edges { cursor source addedAt expiresAt node { id
email name attributes createdAt updatedAt } }``, aliased or not, each response key once at
each level, no fragment, no directive. Anything else goes to the executor, and so does every
request it would answer otherwise than with a segment (an unknown id: null; a page size over
the limit, a bad cursor: an error).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphql import FieldNode, GraphQLField, GraphQLObjectType, GraphQLSchema
from graphql.execution.values import VariableValues, get_argument_values

from app.db import as_datetime, json_value, parse_pk
from app.graphql.errors import PublicError
from app.graphql.pagination import check_first, decode_cursor, encode_cursor
from app.lookups.plans import SEGMENT_LEAVES, RootField, Unanswered, Writer, leaf_keys
from app.memberships.catalogue import SegmentDef
from app.segments import page as segment_page
from app.segments.counts import Counts
from app.settings import Settings


def _moment(value: Any) -> str | None:
    moment = as_datetime(value)
    return None if moment is None else moment.isoformat()


# a member row of the page -> the JSON value of a leaf of Member, and the column it reads
MEMBER_LEAVES: dict[str, tuple[Callable[[Any], Any], str | None]] = {
    "__typename": (lambda r: "Member", None),
    "id": (lambda r: r["external_id"], "external_id"),
    "email": (lambda r: r["email"], "email"),
    "name": (lambda r: r["name"], "name"),
    "attributes": (lambda r: json_value(r["attributes"]), "attributes"),
    "createdAt": (lambda r: _moment(r["created_at"]), "created_at"),
    "updatedAt": (lambda r: _moment(r["updated_at"]), "updated_at"),
}
# (a member row, its cursor) -> the JSON value of a leaf of SegmentMemberEdge
EDGE_LEAVES: dict[str, Callable[[Any, str], Any]] = {
    "__typename": lambda r, cursor: "SegmentMemberEdge",
    "cursor": lambda r, cursor: cursor,
    "source": lambda r, cursor: r["source"],
    "addedAt": lambda r, cursor: _moment(r["added_at"]),
    "expiresAt": lambda r, cursor: _moment(r["expires_at"]),
}
_EDGE_COLUMNS = {"source": "source", "addedAt": "added_at", "expiresAt": "expires_at"}
PAGE_INFO = ("__typename", "hasNextPage", "hasPreviousPage", "startCursor", "endCursor")

Keys = tuple[tuple[str, str], ...]  # (response key, field name)
Parts = tuple[tuple[str, Any], ...]  # (response key, what a plan writes there)


@dataclass(frozen=True, slots=True)
class Members:
    """The ``members`` selection: its node (for its arguments), its definition, its parts."""

    node: FieldNode
    definition: GraphQLField
    # (key, what): "__typename", "totalCount", ("pageInfo", keys), ("edges", edge, node keys)
    parts: tuple[tuple[str, Any], ...]
    columns: tuple[str, ...]


def _members(node: FieldNode, definition: GraphQLField) -> Members | None:
    if node.directives or node.selection_set is None:
        return None
    if any(a.name.value not in ("first", "after") for a in node.arguments or ()):
        return None
    columns: set[str] = set()

    def edges(selected: FieldNode) -> Any:
        edge = _edge(selected, columns)
        return None if edge is None else ("edges", *edge)

    parts = connection_parts(node, edges)
    if parts is None:
        return None
    return Members(node, definition, parts, tuple(sorted(columns)))


def connection_parts(node: FieldNode, edges: Callable[[FieldNode], Any]) -> Parts | None:
    """The parts of a connection's selection: ``__typename``, ``totalCount``, ``("pageInfo",
    keys)`` and what ``edges`` makes of the edges' node (None: not one a plan writes)."""
    if node.selection_set is None:
        return None
    parts: dict[str, Any] = {}
    for selected in node.selection_set.selections:
        if not isinstance(selected, FieldNode) or selected.directives or selected.arguments:
            return None
        key = selected.alias.value if selected.alias else selected.name.value
        name = selected.name.value
        if key in parts:
            return None
        if name in ("__typename", "totalCount") and selected.selection_set is None:
            parts[key] = name
        elif name == "pageInfo":
            keys = leaf_keys(selected, PAGE_INFO)
            if keys is None:
                return None
            parts[key] = ("pageInfo", keys)
        elif name == "edges":
            part = edges(selected)
            if part is None:
                return None
            parts[key] = part
        else:
            return None
    return tuple(parts.items())


def _edge(node: FieldNode, columns: set[str]) -> tuple[Keys, Keys | None] | None:
    """An edge's leaves and its node's (None: no node asked); the columns they read."""
    if node.selection_set is None:
        return None
    leaves: dict[str, str] = {}
    member: Keys | None = None
    member_key = None
    for selected in node.selection_set.selections:
        if not isinstance(selected, FieldNode) or selected.directives or selected.arguments:
            return None
        key = selected.alias.value if selected.alias else selected.name.value
        if key in leaves or key == member_key:
            return None
        if selected.name.value == "node":
            if member is not None:
                return None
            member = leaf_keys(selected, MEMBER_LEAVES)
            if member is None:
                return None
            member_key = key
            leaves[key] = "node"
            for _, name in member:
                column = MEMBER_LEAVES[name][1]
                if column is not None:
                    columns.add(column)
        elif selected.name.value in EDGE_LEAVES and selected.selection_set is None:
            leaves[key] = selected.name.value
            if selected.name.value in _EDGE_COLUMNS:
                columns.add(_EDGE_COLUMNS[selected.name.value])
        else:
            return None
    return tuple(leaves.items()), member


COUNTS = ("memberCount", "companyCount")


def segment_parts(
    node: FieldNode, segment_type: GraphQLObjectType, *, pages: bool = True
) -> tuple[Parts, Members | None] | None:
    """The parts of a ``Segment`` selection a plan writes (with its ``members`` page when
    ``pages``), None when it is not one."""
    if node.selection_set is None:
        return None
    parts: dict[str, Any] = {}
    members: Members | None = None
    for selected in node.selection_set.selections:
        if not isinstance(selected, FieldNode) or selected.directives:
            return None
        key = selected.alias.value if selected.alias else selected.name.value
        name = selected.name.value
        if key in parts:
            return None
        if name == "members" and pages:
            if members is not None:
                return None
            members = _members(selected, segment_type.fields[name])
            if members is None:
                return None
            parts[key] = members
        elif selected.arguments or selected.selection_set is not None:
            return None
        elif name in SEGMENT_LEAVES or name in COUNTS:
            parts[key] = name
        else:
            return None
    return tuple(parts.items()), members


def counted(parts: Parts) -> bool:
    """Whether the selection asks a segment's counts."""
    return any(part in COUNTS for _, part in parts)


def segment_value(
    parts: Parts,
    segment: SegmentDef,
    found: Counts | None,
    now: datetime,
    page: Callable[[Members], Any] | None = None,
) -> dict[str, Any]:
    """The JSON value of a segment's selection: its leaves, its counts (``found``), its page
    of members (``page``)."""
    out: dict[str, Any] = {}
    for key, part in parts:
        if isinstance(part, Members):
            assert page is not None
            out[key] = page(part)
        elif part == "memberCount":
            assert found is not None
            out[key] = found.members
        elif part == "companyCount":
            assert found is not None
            out[key] = found.companies
        else:
            out[key] = SEGMENT_LEAVES[part](segment, now)
    return out


def segment_type(schema: GraphQLSchema) -> GraphQLObjectType | None:
    found = schema.get_type("Segment")
    return found if isinstance(found, GraphQLObjectType) else None


def _shape(node: FieldNode, schema: GraphQLSchema) -> Writer | None:
    """The writer of a ``segment`` selection, None when it is not one a plan writes."""
    of = segment_type(schema)
    shaped = None if of is None else segment_parts(node, of)
    return None if shaped is None else _Writer(*shaped).write


@dataclass(frozen=True, slots=True)
class _Writer:
    parts: Parts
    members: Members | None

    async def write(
        self, site_id: int, arguments: dict[str, Any], variables: VariableValues, settings: Settings
    ) -> dict[str, Any] | None:
        pk = parse_pk(arguments["id"])
        if pk is None:
            return None  # no such segment, as the executor says it
        first = after = None
        asks_counts = counted(self.parts)
        members = self.members
        if members is not None:
            given = get_argument_values(members.definition, members.node, variables)
            try:
                first = check_first(given.get("first"), settings.max_page_size)
                after = decode_cursor(given.get("after"), int)
            except PublicError as exc:
                # the executor's error, unless there is no segment to ask the page of
                if (
                    await segment_page.read(
                        site_id=site_id, segment_pk=pk, first=None, after=None, counted=False
                    )
                    is None
                ):
                    return None
                raise Unanswered from exc
            asks_counts = asks_counts or any(p == "totalCount" for _, p in members.parts)
        found = await segment_page.read(
            site_id=site_id,
            segment_pk=pk,
            first=first,
            after=after,
            columns=members.columns if members is not None else (),
            counted=asks_counts,
        )
        if found is None:
            return None

        def page(part: Members) -> dict[str, Any]:
            assert first is not None and found is not None
            return _connection(part, found, first, after, settings)

        return segment_value(self.parts, found.segment, found.counts, found.now, page)


def page_info(keys: Keys, has_next: bool, after: Any, cursors: list[str]) -> dict[str, Any]:
    """The JSON value of a ``pageInfo`` selection (``keys``) of a keyset page."""
    info = {
        "__typename": "PageInfo",
        "hasNextPage": has_next,
        "hasPreviousPage": after is not None,
        "startCursor": cursors[0] if cursors else None,
        "endCursor": cursors[-1] if cursors else None,
    }
    return {k: info[name] for k, name in keys}


def _connection(
    members: Members, found: segment_page.SegmentPage, first: int, after: Any, settings: Settings
) -> dict[str, Any]:
    assert found.rows is not None
    rows = found.rows[:first]
    if len(rows) > settings.max_result_rows:
        raise Unanswered  # the operation's row budget
    cursors = [encode_cursor(int(r["id"])) for r in rows]
    out: dict[str, Any] = {}
    for key, part in members.parts:
        if part == "__typename":
            out[key] = "SegmentMemberConnection"
        elif part == "totalCount":
            assert found.counts is not None
            out[key] = found.counts.members
        elif part[0] == "pageInfo":
            out[key] = page_info(part[1], len(found.rows) > first, after, cursors)
        else:
            _, edge, member = part
            out[key] = [
                {
                    k: (
                        {mk: MEMBER_LEAVES[mn][0](row) for mk, mn in member}
                        if name == "node" and member is not None
                        else EDGE_LEAVES[name](row, cursor)
                    )
                    for k, name in edge
                }
                for row, cursor in zip(rows, cursors, strict=True)
            ]
    return out


FIELDS = (RootField("segment", shaped=_shape),)
