"""Persona and segment option mutations: the services decide, userErrors report."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.inputs import MERGE_UPDATE, provided
from app.graphql.mutation import deleting, mutation
from app.personas import options, service
from app.personas.models import Persona
from app.personas.types import (
    PersonaNode,
    PersonaPayload,
    SegmentOptionNode,
    SegmentOptionPayload,
)
from app.viewer import Role


@strawberry.input
class SegmentOptionInput:
    segment_id: strawberry.ID
    label: str = strawberry.field(description="Unique within the segment.")
    description: str | None = None
    position: int | None = strawberry.field(
        default=None, description="Where it is listed (0 first); omitted: after the others."
    )


@strawberry.input(description="Merge update: an omitted field is left as it is.")
class SegmentOptionUpdateInput:
    label: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    position: int | None = strawberry.UNSET


@strawberry.input
class PersonaInput:
    name: str = strawberry.field(description="Unique within the site.")
    description: str | None = None


@strawberry.input(description=MERGE_UPDATE)
class UpdatePersonaInput:
    name: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET


@strawberry.input
class AttachSegmentToPersonaInput:
    persona_id: strawberry.ID
    segment_id: strawberry.ID
    option_ids: list[strawberry.ID] = strawberry.field(
        description="Options of that segment; attaching again replaces the options picked before."
    )


def _persona(persona: Persona) -> PersonaPayload:
    return PersonaPayload(persona=PersonaNode.from_model(persona), user_errors=[])


@strawberry.type
class PersonaMutations:
    @mutation(Role.WRITER)
    async def create_segment_option(
        self, info: Info, input: SegmentOptionInput
    ) -> SegmentOptionPayload:
        option = await options.create(
            **info.context.acting,
            segment_id=str(input.segment_id),
            label=input.label,
            description=input.description,
            position=input.position,
        )
        return SegmentOptionPayload(option=SegmentOptionNode.from_model(option), user_errors=[])

    @mutation(Role.WRITER)
    async def update_segment_option(
        self, info: Info, id: strawberry.ID, input: SegmentOptionUpdateInput
    ) -> SegmentOptionPayload:
        option = await options.update(**info.context.acting, option_id=id, changes=provided(input))
        return SegmentOptionPayload(option=SegmentOptionNode.from_model(option), user_errors=[])

    delete_segment_option = deleting(
        Role.WRITER,
        options.delete,
        "option_id",
        description="Delete an option; personas that picked it let go of it.",
    )

    @mutation(Role.WRITER)
    async def create_persona(self, info: Info, input: PersonaInput) -> PersonaPayload:
        data = service.PersonaData(name=input.name, description=input.description)
        persona = await service.create(site_id=info.context.site_id, data=data)
        return _persona(persona)

    @mutation(Role.WRITER)
    async def update_persona(
        self, info: Info, id: strawberry.ID, input: UpdatePersonaInput
    ) -> PersonaPayload:
        persona = await service.update(
            site_id=info.context.site_id, persona_id=id, changes=provided(input)
        )
        return _persona(persona)

    delete_persona = deleting(
        Role.WRITER,
        service.delete,
        "persona_id",
        description="Delete a persona; its segments stay.",
    )

    @mutation(
        Role.WRITER,
        description="Attach a segment with the options it picks; again: replaces the options.",
    )
    async def attach_segment_to_persona(
        self, info: Info, input: AttachSegmentToPersonaInput
    ) -> PersonaPayload:
        persona = await service.attach(
            **info.context.acting,
            persona_id=str(input.persona_id),
            segment_id=str(input.segment_id),
            option_ids=[str(i) for i in input.option_ids],
        )
        return _persona(persona)

    @mutation(Role.WRITER)
    async def detach_segment_from_persona(
        self, info: Info, persona_id: strawberry.ID, segment_id: strawberry.ID
    ) -> PersonaPayload:
        persona = await service.detach(
            **info.context.acting,
            persona_id=persona_id,
            segment_id=segment_id,
        )
        return _persona(persona)
