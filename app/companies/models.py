"""Companies: a site's customer organisations, named by the site's own ids."""

from __future__ import annotations

from typing import Any

from tortoise import fields

from app.db import SiteOwned, Timestamped


class Company(SiteOwned, Timestamped):
    external_id = fields.CharField(max_length=255)
    name = fields.CharField(max_length=255)
    plan = fields.CharField(max_length=100, null=True)
    attributes: dict[str, Any] = fields.JSONField(default=dict)

    class Meta:
        table = "companies"
        unique_together = (("site", "external_id"),)
        indexes = (("site_id", "name"),)
