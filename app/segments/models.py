"""Segments: named groups of members and companies."""

from __future__ import annotations

from typing import Any

from tortoise import fields

from app.db import SiteOwned, Timestamped
from app.status import SegmentStatus, SegmentType, status_at

__all__ = ["NAME_LENGTH", "Segment", "SegmentStatus", "SegmentType", "status_at"]

NAME_LENGTH = 200  # the longest name a segment can have (the column's size)


class Segment(SiteOwned, Timestamped):
    name = fields.CharField(max_length=NAME_LENGTH)
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

    class Meta:
        table = "segments"
        unique_together = (("site", "name"),)
