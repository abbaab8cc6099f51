"""Feature flags and the segments they target."""

from __future__ import annotations

from typing import Any

from tortoise import fields

from app.db import SegmentTarget, SiteOwned, Timestamped, owned_by


class FeatureFlag(SiteOwned, Timestamped):
    key = fields.CharField(max_length=100)
    description = fields.TextField(null=True)
    enabled = fields.BooleanField(default=True)

    class Meta:
        table = "feature_flags"
        unique_together = (("site", "key"),)


# A flag targets a segment: deleting either side removes the link, never the other side.
# (A comment, not a docstring: Tortoise would make a docstring the table's comment.)
class FlagSegment(SegmentTarget):
    flag: fields.ForeignKeyRelation[Any] = owned_by("models.FeatureFlag")
    flag_id: int

    class Meta:
        table = "flag_segments"
        unique_together = (("flag", "segment"),)
