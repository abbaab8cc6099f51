"""Who is listed in (or excluded from) a segment."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields

from app.db import OfSegment, owned_by


class ListedSource(enum.Enum):
    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    RULE = "RULE"


# What every list of a segment keeps: the segment and when the row was added.
# (Comments, not docstrings: Tortoise would make a docstring the table's comment.)
class _Listed(OfSegment):
    added_at = fields.DatetimeField()

    class Meta:
        abstract = True


# A member on a list of a segment (indexed for the member's segments and its cascade).
class _MemberListed(_Listed):
    member: fields.ForeignKeyRelation[Any] = owned_by("models.Member", indexed=True)
    member_id: int

    class Meta:
        abstract = True


class SegmentMember(_MemberListed):
    source = fields.CharEnumField(ListedSource, max_length=10, default=ListedSource.MANUAL)
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "segment_members"
        unique_together = (("segment", "member"),)


class SegmentCompany(_Listed):
    company: fields.ForeignKeyRelation[Any] = owned_by("models.Company", indexed=True)
    company_id: int

    class Meta:
        table = "segment_companies"
        unique_together = (("segment", "company"),)


class SegmentExclusion(_MemberListed):
    class Meta:
        table = "segment_exclusions"
        unique_together = (("segment", "member"),)
