"""Persona queries: thin resolvers over app.personas.service."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.pagination import connection, node_edge, site_rows
from app.personas import service
from app.personas.types import PersonaConnection, PersonaEdge, PersonaNode


@strawberry.type
class PersonaQueries:
    @strawberry.field(description="The persona with that id; null for an unknown id.")
    async def persona(self, info: Info, id: strawberry.ID) -> PersonaNode | None:
        persona = await service.get(site_id=info.context.site_id, persona_id=id)
        return PersonaNode.from_model(persona) if persona else None

    @strawberry.field(description="Personas in name order; search looks in names and descriptions.")
    async def personas(
        self,
        info: Info,
        search: str | None = None,
        first: int | None = 50,
        after: str | None = None,
    ) -> PersonaConnection:
        rows = site_rows(
            info, service.list_personas, service.count_personas, lambda p: p.name, search=search
        )
        edge = node_edge(PersonaEdge, PersonaNode.from_model)
        return await connection(info, (first, after), rows, edge, PersonaConnection)
