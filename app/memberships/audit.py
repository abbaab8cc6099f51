"""The audit of membership changes: one function per event kind, called by the membership
path inside its transaction (app.memberships.path), so an event exists exactly when its
change does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from app.events import service as events
from app.events.models import EventKind


@dataclass(frozen=True)
class Audit:
    """Who changed which segment, and on which connection the events are written."""

    connection: BaseDBAsyncClient
    site_id: int
    segment_pk: int
    actor: str

    async def _record(self, kind: EventKind, count: int, sample: Sequence[str]) -> None:
        if count:
            await events.record(
                self.connection,
                site_id=self.site_id,
                segment_id=self.segment_pk,
                kind=kind,
                actor=self.actor,
                count=count,
                sample_ids=sample,
            )


async def members_added(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.MEMBERS_ADDED, count, sample)


async def members_removed(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.MEMBERS_REMOVED, count, sample)


async def companies_added(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.COMPANIES_ADDED, count, sample)


async def companies_removed(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.COMPANIES_REMOVED, count, sample)


async def members_excluded(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.MEMBERS_EXCLUDED, count, sample)


async def exclusions_removed(audit: Audit, count: int, sample: Sequence[str]) -> None:
    await audit._record(EventKind.EXCLUSIONS_REMOVED, count, sample)
