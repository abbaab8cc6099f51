"""The audit trail of segments."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields

from app.db import SiteScoped


class EventKind(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    MEMBERS_ADDED = "MEMBERS_ADDED"
    MEMBERS_REMOVED = "MEMBERS_REMOVED"
    COMPANIES_ADDED = "COMPANIES_ADDED"
    COMPANIES_REMOVED = "COMPANIES_REMOVED"
    EMAIL_SENT = "EMAIL_SENT"
    MEMBERS_EXCLUDED = "MEMBERS_EXCLUDED"
    EXCLUSIONS_REMOVED = "EXCLUSIONS_REMOVED"
    ARCHIVED = "ARCHIVED"
    RESTORED = "RESTORED"
    OPTION_CREATED = "OPTION_CREATED"
    OPTION_UPDATED = "OPTION_UPDATED"
    OPTION_DELETED = "OPTION_DELETED"
    PERSONA_ATTACHED = "PERSONA_ATTACHED"
    PERSONA_DETACHED = "PERSONA_DETACHED"


class SegmentEvent(SiteScoped):
    # not a foreign key: the trail of a deleted segment outlives it
    segment_id = fields.BigIntField()
    kind = fields.CharEnumField(EventKind, max_length=20)
    actor = fields.CharField(max_length=100)
    count = fields.IntField(default=0)
    sample_ids: Any = fields.JSONField(default=list)
    # what the change was: {"field": {"before": ..., "after": ...}} (UPDATED and the newer kinds)
    changes: Any = fields.JSONField(null=True)
    at = fields.DatetimeField()

    class Meta:
        table = "segment_events"
        indexes = (("segment_id", "at"), ("site_id", "at"))
