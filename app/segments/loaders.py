"""The segments' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.graphql.context import batch_loader
from app.segments import service
from app.segments.models import Segment


def segment(site_id: int) -> DataLoader[int, Segment | None]:
    """Segment pk -> its row in the caller's site (None if there is none)."""
    return batch_loader(lambda pks: service.by_pks(site_id=site_id, pks=pks), None)
