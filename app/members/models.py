"""Members: a site's users, named by the site's own ids."""

from __future__ import annotations

import hashlib
from typing import Any

from tortoise import fields

from app.db import SiteOwned, Timestamped

BUCKETS = 10_000


def bucket_of(external_id: str) -> int:
    """A stable bucket 0..9999 for percent(): the same id lands in the same bucket everywhere."""
    digest = hashlib.sha256(external_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


class Member(SiteOwned, Timestamped):
    external_id = fields.CharField(max_length=255)
    email = fields.CharField(max_length=320, null=True)
    name = fields.CharField(max_length=255, null=True)
    company: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Company", related_name=False, null=True, on_delete=fields.SET_NULL, db_index=True
    )
    company_id: int | None
    attributes: dict[str, Any] = fields.JSONField(default=dict)
    bucket = fields.SmallIntField()

    class Meta:
        table = "members"
        unique_together = (("site", "external_id"),)
        indexes = (("site_id", "email"),)
