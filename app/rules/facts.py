"""What the Python evaluator knows about a member: the same facts the SQL sees in its row."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CompanyFacts:
    external_id: str
    name: str
    plan: str | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """One member, as rules see it. ``bucket`` is the member's stable 0..9999 percent() bucket."""

    external_id: str
    email: str | None
    name: str | None
    created_at: datetime
    updated_at: datetime
    attributes: dict[str, Any]
    bucket: int
    company: CompanyFacts | None = None
