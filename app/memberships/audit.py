"""The audit of membership changes: one function per event kind, called by the membership
path inside its transaction (app.memberships.path), so an event exists exactly when its
change does."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
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


Recorder = Callable[[Audit, int, Sequence[str]], Awaitable[None]]


def _recorder(kind: EventKind) -> Recorder:
    async def record(audit: Audit, count: int, sample: Sequence[str]) -> None:
        await audit._record(kind, count, sample)

    record.__name__ = kind.value.lower()
    return record


# one function per event kind: ``await audit.members_added(trail, count, sample)``
members_added = _recorder(EventKind.MEMBERS_ADDED)
members_removed = _recorder(EventKind.MEMBERS_REMOVED)
companies_added = _recorder(EventKind.COMPANIES_ADDED)
companies_removed = _recorder(EventKind.COMPANIES_REMOVED)
members_excluded = _recorder(EventKind.MEMBERS_EXCLUDED)
exclusions_removed = _recorder(EventKind.EXCLUSIONS_REMOVED)
