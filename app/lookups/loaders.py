"""The lookups' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.graphql.context import batch_loader
from app.lookups import service
from app.memberships.catalogue import SegmentDef


def member_segments(site_id: int) -> DataLoader[tuple[str, bool], list[SegmentDef]]:
    """(member id, include inactive) -> the segments it is an effective member of."""
    return batch_loader(lambda keys: service.segments_of_members(site_id=site_id, keys=keys), [])
