"""Segments: named groups of members and companies."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from tortoise import fields
from tortoise.models import Model


class SegmentType(enum.Enum):
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


class Segment(Model):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Site", related_name=False, on_delete=fields.CASCADE, db_index=False
    )
    site_id: int
    name = fields.CharField(max_length=200)
    description = fields.TextField(null=True)
    type = fields.CharEnumField(SegmentType, max_length=10, default=SegmentType.STATIC)
    is_active = fields.BooleanField(default=True)
    starts_at = fields.DatetimeField(null=True)
    ends_at = fields.DatetimeField(null=True)
    rule = fields.TextField(null=True)
    # the parsed rule, so that evaluation never parses again
    rule_ast: Any = fields.JSONField(null=True)
    # per-segment salt for percent(): a different stable slice of members per segment
    salt = fields.IntField(default=0)
    # set by archiveSegment, cleared by restoreSegment: the segment leaves day-to-day use
    archived_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "segments"
        unique_together = (("site", "name"),)


class SegmentStatus(enum.Enum):
    ACTIVE = "ACTIVE"
    INACTIVE = "INACTIVE"
    SCHEDULED = "SCHEDULED"
    EXPIRED = "EXPIRED"
    ARCHIVED = "ARCHIVED"


def status_at(
    is_active: bool,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
    archived: bool = False,
) -> SegmentStatus:
    """The status a segment with this window has at ``now``: derived, never stored
    (an archived segment is ARCHIVED whatever its window)."""
    if archived:
        return SegmentStatus.ARCHIVED
    if not is_active:
        return SegmentStatus.INACTIVE
    if starts_at is not None and starts_at > now:
        return SegmentStatus.SCHEDULED
    if ends_at is not None and ends_at <= now:
        return SegmentStatus.EXPIRED
    return SegmentStatus.ACTIVE
