"""Who is listed in (or excluded from) a segment."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.db import owned_by


class ListedSource(enum.Enum):
    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    RULE = "RULE"


class SegmentMember(Model):
    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    segment: fields.ForeignKeyRelation[Any] = owned_by("models.Segment")
    segment_id: int
    member: fields.ForeignKeyRelation[Any] = owned_by("models.Member", indexed=True)
    member_id: int
    source = fields.CharEnumField(ListedSource, max_length=10, default=ListedSource.MANUAL)
    added_at = fields.DatetimeField()
    expires_at = fields.DatetimeField(null=True)

    class Meta:
        table = "segment_members"
        unique_together = (("segment", "member"),)


class SegmentCompany(Model):
    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    segment: fields.ForeignKeyRelation[Any] = owned_by("models.Segment")
    segment_id: int
    company: fields.ForeignKeyRelation[Any] = owned_by("models.Company", indexed=True)
    company_id: int
    added_at = fields.DatetimeField()

    class Meta:
        table = "segment_companies"
        unique_together = (("segment", "company"),)


class SegmentExclusion(Model):
    id = fields.BigIntField(primary_key=True)
    site_id = fields.BigIntField()
    segment: fields.ForeignKeyRelation[Any] = owned_by("models.Segment")
    segment_id: int
    member: fields.ForeignKeyRelation[Any] = owned_by("models.Member", indexed=True)
    member_id: int
    added_at = fields.DatetimeField()

    class Meta:
        table = "segment_exclusions"
        unique_together = (("segment", "member"),)
