"""Sites (tenants) and their API keys."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from app.db import site_key
from app.viewer import Role

__all__ = ["ApiKey", "Role", "Site"]


class Site(Model):
    id = fields.BigIntField(primary_key=True)
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    # bumped with every segment create, update and delete, so that every server process
    # can tell with one read whether its cached segment definitions are current
    segments_version = fields.BigIntField(default=0, db_default=0)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "sites"


class ApiKey(Model):
    id = fields.BigIntField(primary_key=True)
    site: fields.ForeignKeyRelation[Site] = site_key(indexed=True)
    site_id: int
    name = fields.CharField(max_length=100)
    role = fields.CharEnumField(Role, max_length=10)
    prefix = fields.CharField(max_length=16)
    key_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_keys"
