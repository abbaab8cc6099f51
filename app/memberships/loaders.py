"""The memberships' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.graphql.context import batch_loader
from app.memberships import service
from app.memberships.catalogue import SegmentDef


def segment_member_count(site_id: int) -> DataLoader[int, int]:
    return batch_loader(lambda pks: service.member_counts(site_id=site_id, segment_pks=pks), 0)


def segment_company_count(site_id: int) -> DataLoader[int, int]:
    return batch_loader(lambda pks: service.company_counts(site_id=site_id, segment_pks=pks), 0)


def company_segments(site_id: int) -> DataLoader[tuple[int, bool], list[SegmentDef]]:
    """(company pk, include inactive) -> the segments listing it."""
    return batch_loader(lambda keys: service.segments_of_companies(site_id=site_id, keys=keys), [])
