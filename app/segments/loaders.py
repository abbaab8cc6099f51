"""The segments' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.graphql.context import batch_loader
from app.segments import counts, service
from app.segments.counts import Counts
from app.segments.models import Segment

NO_COUNTS = Counts(0, 0)


def segment(site_id: int) -> DataLoader[int, Segment | None]:
    """Segment pk -> its row in the caller's site (None if there is none)."""
    return batch_loader(lambda pks: service.by_pks(site_id=site_id, pks=pks), None)


def segment_counts(site_id: int) -> DataLoader[int, Counts]:
    """Segment pk -> its member and company counts (the kept counters: one statement a page)."""
    return batch_loader(lambda pks: counts.counts(site_id=site_id, segment_pks=pks), NO_COUNTS)
