"""Document limits checked in time linear in the document: depth, aliases and the number of
selections once every fragment spread is expanded.

Strawberry's depth and alias limiters walk each fragment again at every spread of it, so a
document of N fragments each spreading the next twice costs 2^N steps on the event loop
(40 fragments: forever, for anyone, with or without a key). Here each fragment is measured
once and its measure reused at every spread. The expanded selection count is bounded before
graphql-core's own rules run: some of them (OverlappingFieldsCanBeMerged) compare the
selections of a set pairwise after expansion, and would blow up on the same documents.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.extensions.validation_cache import _get_validate_cache


@dataclass(frozen=True, slots=True)
class Measure:
    """A selection set, its fragments expanded: how deep, how many selections, aliases."""

    depth: int = 0  # fields below the set's own level: a set of leaves is 0 deep
    selections: int = 0
    aliases: int = 0


@dataclass(frozen=True, slots=True)
class DocumentLimits:
    max_depth: int
    max_aliases: int
    max_selections: int
    # sum over response paths of (fields merged there)^2: the pairs graphql-core compares
    max_merge_pairs: int = 4000


class _Measurer:
    def __init__(self, document: DocumentNode, cap: int) -> None:
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        # counts are capped: past the cap the exact number no longer matters, and the
        # numbers of a fan-out document would otherwise grow as 2^N
        self.cap = cap
        self.done: dict[str, Measure] = {}
        self.busy: set[str] = set()  # fragments being measured: a cycle is measured as 0

    def fragment(self, name: str) -> Measure:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.busy:
            return Measure()  # unknown fragments and cycles are the standard rules' to report
        self.busy.add(name)
        measure = self.selection_set(definition.selection_set)
        self.busy.discard(name)
        self.done[name] = measure
        return measure

    def selection_set(self, selection_set: SelectionSetNode | None) -> Measure:
        if selection_set is None:
            return Measure()
        cap = self.cap
        depth = selections = aliases = 0
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                inner = self.selection_set(node.selection_set)
                selections += 1 + inner.selections
                aliases += (1 if node.alias else 0) + inner.aliases
                # introspection (GraphiQL's own query is deep) is not held to the depth limit
                if not node.name.value.startswith("__") and node.selection_set is not None:
                    depth = max(depth, 1 + inner.depth)
            else:
                if isinstance(node, FragmentSpreadNode):
                    inner = self.fragment(node.name.value)
                else:
                    assert isinstance(node, InlineFragmentNode)
                    inner = self.selection_set(node.selection_set)
                selections += inner.selections
                aliases += inner.aliases
                depth = max(depth, inner.depth)
        return Measure(min(depth, cap), min(selections, cap), min(aliases, cap))

    def merge_pairs(self, selection_set: SelectionSetNode) -> int:
        """Fields of one response path are merged by the executor, and graphql-core's
        OverlappingFieldsCanBeMerged compares them pairwise (and their sub-selections, for
        each pair): the sum over paths of (fields at the path)^2 follows its cost. Walks the
        expanded document: only for a document whose expanded selections are bounded."""
        counts: dict[tuple[str, ...], int] = {}
        stack: list[tuple[SelectionSetNode, tuple[str, ...], frozenset[str]]] = [
            (selection_set, (), frozenset())
        ]
        while stack:
            current, at, spread = stack.pop()
            for node in current.selections:
                if isinstance(node, FieldNode):
                    key = (*at, (node.alias or node.name).value)
                    counts[key] = counts.get(key, 0) + 1
                    if node.selection_set is not None:
                        stack.append((node.selection_set, key, spread))
                elif isinstance(node, InlineFragmentNode):
                    stack.append((node.selection_set, at, spread))
                elif isinstance(node, FragmentSpreadNode):
                    name = node.name.value
                    definition = self.fragments.get(name)
                    if definition is not None and name not in spread:
                        stack.append((definition.selection_set, at, spread | {name}))
        return sum(count * count for count in counts.values())


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def measure(document: DocumentNode, cap: int = 1_000_000) -> dict[str | None, Measure]:
    """Each operation of the document measured with its fragments expanded, by name."""
    measurer = _Measurer(document, cap)
    return {
        (d.name.value if d.name else None): measurer.selection_set(d.selection_set)
        for d in _operations(document)
    }


def check(document: DocumentNode, limits: DocumentLimits) -> list[GraphQLError]:
    """The limits the document is over, each an error naming its limit and with a code."""
    cap = max(limits.max_depth, limits.max_aliases, limits.max_selections) + 1
    errors: list[GraphQLError] = []
    aliases = selections = 0
    measures = measure(document, cap)
    for name, found in measures.items():
        aliases += found.aliases
        selections += found.selections
        if found.depth > limits.max_depth:
            errors.append(
                GraphQLError(
                    f"'{name or 'anonymous'}' exceeds maximum operation depth of"
                    f" {limits.max_depth}",
                    extensions={"code": "MAX_DEPTH_EXCEEDED"},
                )
            )
    if aliases > limits.max_aliases:
        shown = f"{aliases}" if aliases < cap else f"more than {limits.max_aliases}"
        errors.append(
            GraphQLError(
                f"{shown} aliases found. Allowed: {limits.max_aliases}",
                extensions={"code": "MAX_ALIASES_EXCEEDED"},
            )
        )
    if selections > limits.max_selections:
        errors.append(
            GraphQLError(
                "The document is too complex: it selects more than"
                f" {limits.max_selections} fields once its fragments are expanded"
                f" (limit MAX_SELECTIONS = {limits.max_selections})",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        )
    if errors:
        return errors
    # within the limits, the expanded document is small enough to walk
    measurer = _Measurer(document, cap)
    pairs = sum(measurer.merge_pairs(d.selection_set) for d in _operations(document))
    if pairs > limits.max_merge_pairs:
        errors.append(
            GraphQLError(
                "The document is too complex: it selects the same fields at one place too"
                f" often once its fragments are expanded ({pairs} pairs of fields to merge;"
                f" limit: {limits.max_merge_pairs})",
                extensions={"code": "QUERY_TOO_COMPLEX"},
            )
        )
    return errors


@lru_cache(maxsize=1024)
def _checked(document: DocumentNode, limits: DocumentLimits) -> tuple[GraphQLError, ...]:
    return tuple(check(document, limits))


def limited_validation(limits: DocumentLimits, maxsize: int = 1024) -> type[SchemaExtension]:
    """An extension that replaces strawberry's ValidationCache: the document limits first (in
    linear time), and graphql-core's rules (cached) only for a document within them."""
    cached_validate = _get_validate_cache(maxsize)

    class LimitedValidation(SchemaExtension):
        def on_validate(self) -> Iterator[None]:
            context: Any = self.execution_context
            document = context.graphql_document
            errors = list(_checked(document, limits))
            if not errors:
                errors = cached_validate(context.schema._schema, document, context.validation_rules)
            context.pre_execution_errors = errors
            yield

    return LimitedValidation
