"""Personas made of segments, and the options a segment offers them to pick."""

from __future__ import annotations

from typing import Any

from tortoise import fields

from app.db import OfSegment, SegmentTarget, SiteOwned, SiteScoped, Timestamped, owned_by


# An option of a segment ("EU" of "Region"): what a persona attached to it may pick.
# (Comments, not docstrings: Tortoise would make a docstring the table's comment.)
class SegmentOption(OfSegment, Timestamped):
    label = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    position = fields.IntField(default=0)

    class Meta:
        table = "segment_options"
        unique_together = (("segment", "label"),)


class Persona(SiteOwned, Timestamped):
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)

    class Meta:
        table = "personas"
        unique_together = (("site", "name"),)


# A segment attached to a persona: deleting either side removes the attachment only.
class PersonaSegment(SegmentTarget):
    persona: fields.ForeignKeyRelation[Any] = owned_by("models.Persona")
    persona_id: int
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "persona_segments"
        unique_together = (("persona", "segment"),)


# An option an attachment picks: deleting the option (or the attachment) removes the pick.
class PersonaOption(SiteScoped):
    attachment: fields.ForeignKeyRelation[Any] = owned_by("models.PersonaSegment")
    attachment_id: int
    option: fields.ForeignKeyRelation[Any] = owned_by("models.SegmentOption", indexed=True)
    option_id: int

    class Meta:
        table = "persona_options"
        unique_together = (("attachment", "option"),)
