"""Companies: a site's customer organisations, named by the site's own ids."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.db import site_key


class Company(Model):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Any] = site_key()
    site_id: int
    external_id = fields.CharField(max_length=255)
    name = fields.CharField(max_length=255)
    plan = fields.CharField(max_length=100, null=True)
    attributes: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "companies"
        unique_together = (("site", "external_id"),)
        indexes = (("site_id", "name"),)
