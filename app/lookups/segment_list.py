"""``segments`` as a root field the plans for hot documents answer (app.lookups.plans): a page
of the site's segments in name order with their counts, read by app.segments.page in one
statement (the segments themselves from the site's cached catalogue) and written as the
executor writes it.

The selection a plan writes: ``__typename``, ``totalCount``, ``pageInfo { ... }`` and
``edges { __typename cursor node { ... } }``, the node a segment's leaves and counts as the
segment page's plan writes them (app.lookups.page, no ``members``), aliased or not, each
response key once at each level, no fragment, no directive. Asked with any ``status`` and
no ``search`` (a search, a page size over the limit, a bad cursor go to the executor).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphql import FieldNode, GraphQLSchema
from graphql.execution.values import VariableValues

from app.graphql.errors import PublicError
from app.graphql.pagination import check_first, decode_cursor, encode_cursor
from app.lookups.page import (
    Parts,
    connection_parts,
    counted,
    page_info,
    segment_parts,
    segment_type,
    segment_value,
)
from app.lookups.plans import RootField, Unanswered, Writer
from app.memberships.catalogue import SegmentDef
from app.segments import page as segment_page
from app.segments.models import NAME_LENGTH
from app.settings import Settings

_EDGE = ("__typename", "cursor")  # the leaves of SegmentEdge


@dataclass(frozen=True, slots=True)
class _Edges:
    # (response key, "__typename", "cursor" or the node's segment parts), in selection order
    parts: tuple[tuple[str, str | Parts], ...]

    def nodes(self) -> list[Parts]:
        return [part for _, part in self.parts if not isinstance(part, str)]


def _edges(node: FieldNode, schema: GraphQLSchema) -> _Edges | None:
    of = segment_type(schema)
    if node.selection_set is None or of is None:
        return None
    parts: dict[str, str | Parts] = {}
    for selected in node.selection_set.selections:
        if not isinstance(selected, FieldNode) or selected.directives or selected.arguments:
            return None
        key = selected.alias.value if selected.alias else selected.name.value
        if key in parts:
            return None
        if selected.name.value == "node":
            shaped = segment_parts(selected, of, pages=False)
            if shaped is None or any(not isinstance(p, str) for p in parts.values()):
                return None
            parts[key] = shaped[0]
        elif selected.name.value in _EDGE and selected.selection_set is None:
            parts[key] = selected.name.value
        else:
            return None
    return _Edges(tuple(parts.items()))


def _shape(node: FieldNode, schema: GraphQLSchema) -> Writer | None:
    """The writer of a ``segments`` selection, None when it is not one a plan writes."""
    parts = connection_parts(node, lambda edges: _edges(edges, schema))
    return None if parts is None else _Writer(parts).write


@dataclass(frozen=True, slots=True)
class _Writer:
    parts: tuple[tuple[str, Any], ...]

    async def write(
        self, site_id: int, arguments: dict[str, Any], variables: VariableValues, settings: Settings
    ) -> dict[str, Any]:
        if arguments.get("search"):
            raise Unanswered  # a search: read by the executor
        status = arguments.get("status")
        try:
            first = check_first(arguments.get("first"), settings.max_page_size)
            after = decode_cursor(arguments.get("after"), str)
        except PublicError as exc:
            raise Unanswered from exc
        if after is not None and len(after) > NAME_LENGTH:
            raise Unanswered  # a key longer than any name: the executor's invalid cursor
        nodes = [n for _, e in self.parts if isinstance(e, _Edges) for n in e.nodes()]
        found = await segment_page.read_list(
            site_id=site_id,
            first=first,
            after=after,
            status=None if status is None else status.status(),
            counted=any(counted(parts) for parts in nodes),
            total=any(part == "totalCount" for _, part in self.parts),
        )
        if found is None:
            raise Unanswered
        segments = found.segments[:first]
        if len(segments) > settings.max_result_rows:
            raise Unanswered  # the operation's row budget
        cursors = [encode_cursor(s.name) for s in segments]
        out: dict[str, Any] = {}
        for key, part in self.parts:
            if part == "__typename":
                out[key] = "SegmentConnection"
            elif part == "totalCount":
                out[key] = found.total
            elif isinstance(part, _Edges):
                out[key] = [
                    _edge(part, segment, cursor, found)
                    for segment, cursor in zip(segments, cursors, strict=True)
                ]
            else:
                has_next = len(found.segments) > first
                out[key] = page_info(part[1], has_next, after, cursors)
        return out


def _edge(
    edges: _Edges, segment: SegmentDef, cursor: str, found: segment_page.SegmentList
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, part in edges.parts:
        if part == "__typename":
            out[key] = "SegmentEdge"
        elif part == "cursor":
            out[key] = cursor
        else:
            counts = None if found.counts is None else found.counts[segment.pk]
            out[key] = segment_value(part, segment, counts, found.now)  # type: ignore[arg-type]
    return out


FIELDS = (RootField("segments", shaped=_shape),)
