"""Persona queries: thin resolvers over app.personas.service."""

from __future__ import annotations

import strawberry

from app.graphql.connection import paginated
from app.graphql.context import Info
from app.graphql.nodes import site_node
from app.graphql.pagination import Rows, site_rows
from app.personas import service
from app.personas.models import Persona
from app.personas.types import PersonaNode


@strawberry.type
class PersonaQueries:
    @strawberry.field(description="The persona with that id; null for an unknown id.")
    async def persona(self, info: Info, id: strawberry.ID) -> PersonaNode | None:
        return await site_node(info, service.get, PersonaNode.from_model, persona_id=id)

    @paginated(
        PersonaNode, description="Personas in name order; search looks in names and descriptions."
    )
    def personas(self, info: Info, search: str | None = None) -> Rows[Persona]:
        return site_rows(info, service.PERSONAS, search=search)
