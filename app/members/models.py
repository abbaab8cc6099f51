"""Members: a site's users, named by the site's own ids."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.db import site_key
from app.rules.values import BUCKETS, bucket_of

__all__ = ["BUCKETS", "Member", "bucket_of"]


class Member(Model):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Any] = site_key()
    site_id: int
    external_id = fields.CharField(max_length=255)
    email = fields.CharField(max_length=320, null=True)
    name = fields.CharField(max_length=255, null=True)
    company: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Company", related_name=False, null=True, on_delete=fields.SET_NULL, db_index=True
    )
    company_id: int | None
    attributes: dict[str, Any] = fields.JSONField(default=dict)
    bucket = fields.SmallIntField()
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "members"
        unique_together = (("site", "external_id"),)
        indexes = (("site_id", "email"),)
