"""Statuses the app derives, shared by the domains that read them: of long work (import jobs,
email campaigns: one enum, one GraphQL JobStatus) and of segments (derived from the window
and the clock, never stored), and the segment types."""

from __future__ import annotations

import enum
from datetime import datetime


class JobStatus(enum.Enum):
    PENDING = "PENDING"  # stored, nothing tried yet
    RUNNING = "RUNNING"  # a worker has begun
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


class SegmentType(enum.Enum):
    STATIC = "STATIC"
    DYNAMIC = "DYNAMIC"


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
