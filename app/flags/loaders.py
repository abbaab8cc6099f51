"""The flags' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.flags import service
from app.flags.models import FeatureFlag
from app.graphql.context import batch_loader
from app.segments.models import Segment


def flag_segments(site_id: int) -> DataLoader[int, list[Segment]]:
    return batch_loader(lambda pks: service.segments_of_flags(site_id=site_id, flag_pks=pks), [])


def segment_flags(site_id: int) -> DataLoader[int, list[FeatureFlag]]:
    return batch_loader(lambda pks: service.flags_of_segments(site_id=site_id, segment_pks=pks), [])
