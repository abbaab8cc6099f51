"""The schema assembly: every domain's queries and mutations merged, with the request limits
on. The one module that reaches into every domain's GraphQL (the layers in pyproject.toml).

`python -m app.schema [PATH]` writes the SDL to schema.graphql.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import strawberry
from graphql.error import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from app.auth.schema import AuthMutations, AuthQueries
from app.changes.queries import ChangeQueries
from app.changes.subscriptions import ChangeSubscriptions
from app.companies.mutations import CompanyMutations
from app.companies.queries import CompanyQueries
from app.email.mutations import EmailMutations
from app.email.queries import EmailQueries
from app.flags.mutations import FlagMutations
from app.flags.queries import FlagQueries
from app.graphql import cost
from app.graphql.context import FreshLoaders
from app.graphql.errors import MaskInternalErrors, error_codes
from app.graphql.input_guard import InputLimits, input_guard
from app.graphql.limits import DocumentLimits, limited_validation
from app.graphql.pagination import row_budget
from app.graphql.variables import LiftingExecutor
from app.jobs.mutations import SCALARS, ImportJobMutations
from app.jobs.queries import ImportJobQueries
from app.jobs.subscriptions import ImportJobSubscriptions
from app.lookups.queries import LookupQueries
from app.members.mutations import MemberMutations
from app.members.queries import MemberQueries
from app.personas.mutations import PersonaMutations
from app.personas.queries import PersonaQueries
from app.pickers.queries import PickerQueries
from app.segments.lifecycle_mutations import SegmentLifecycleMutations
from app.segments.membership_mutations import MembershipMutations
from app.segments.mutations import SegmentMutations
from app.segments.preview_queries import PreviewQueries
from app.segments.queries import SegmentQueries
from app.segments.subscriptions import EventSubscriptions
from app.settings import Settings
from app.webhooks.mutations import WebhookMutations
from app.webhooks.queries import WebhookQueries

Query = merge_types(
    "Query",
    (
        AuthQueries,
        SegmentQueries,
        LookupQueries,
        MemberQueries,
        CompanyQueries,
        FlagQueries,
        EmailQueries,
        PickerQueries,
        ImportJobQueries,
        PersonaQueries,
        WebhookQueries,
        ChangeQueries,
        PreviewQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        SegmentMutations,
        MembershipMutations,
        MemberMutations,
        CompanyMutations,
        AuthMutations,
        FlagMutations,
        EmailMutations,
        ImportJobMutations,
        SegmentLifecycleMutations,
        PersonaMutations,
        WebhookMutations,
    ),
)
Subscription = merge_types(
    "Subscription", (EventSubscriptions, ImportJobSubscriptions, ChangeSubscriptions)
)


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        # Public errors are the caller's business, not the log's; internal ones are logged
        # once, with the id the caller sees, by MaskInternalErrors.
        return None


def build_schema(settings: Settings, throttle: cost.Throttle | None = None) -> strawberry.Schema:
    # The document limits (depth, aliases, expanded selections) are checked in linear time
    # before graphql-core's rules, which then run (cached) only on documents within them.
    limits = DocumentLimits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_selections=settings.max_selections,
    )
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: ParserCache(maxsize=1024),
        limited_validation(limits, maxsize=1024),
        input_guard(InputLimits.of(settings)),
        row_budget(settings.max_result_rows),
        MaskInternalErrors,
        error_codes(hide_suggestions=not settings.introspection),
        cost.extension(settings.max_query_cost, throttle),
        FreshLoaders,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(auto_camel_case=True, scalar_map=SCALARS),
        # lists of ids taken whole when the variables are coerced: over HTTP, the WebSocket
        # and in tests alike
        execution_context_class=LiftingExecutor,
    )


def sdl(settings: Settings | None = None) -> str:
    """The schema as SDL: what schema.graphql must hold."""
    return str(build_schema(settings or Settings())) + "\n"


SCHEMA_FILE = Path(__file__).resolve().parents[1] / "schema.graphql"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    path = Path(args[0]) if args else SCHEMA_FILE
    path.write_text(sdl(), encoding="utf-8")
    print(f"wrote {path}")


__all__: list[Any] = ["Mutation", "Query", "Subscription", "build_schema", "sdl"]

if __name__ == "__main__":
    main()
