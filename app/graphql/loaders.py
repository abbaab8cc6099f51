"""DataLoaders, made fresh for each request and bound to the caller's site: every
per-node lookup of a request is batched into one query per kind."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from app.companies import service as companies
from app.companies.models import Company
from app.email import service as email
from app.email.models import DeliveryStatus
from app.flags import service as flags
from app.flags.models import FeatureFlag
from app.lookups import service as lookups
from app.members import service as members
from app.memberships import service as memberships
from app.personas.loaders import PersonaLoaders
from app.segments.catalogue import SegmentDef
from app.segments.models import Segment

K = TypeVar("K")
V = TypeVar("V")


class SharedLoader(DataLoader[K, V]):
    """A DataLoader whose callers each wait on their own shield of the shared future: when
    graphql-core cancels one field (a sibling failed), the others waiting on the same key
    still get the value instead of a CancelledError escaping the executor (a raw 500)."""

    def load(self, key: K) -> Awaitable[V]:
        return asyncio.shield(super().load(key))


def _loader(batch: Callable[[list[K]], Awaitable[dict[K, V]]], default: Any) -> DataLoader[K, V]:
    async def load(keys: Sequence[K]) -> list[V]:
        found = await batch(list(keys))
        return [found.get(k, default) for k in keys]

    return SharedLoader(load_fn=load)


class Loaders:
    def __init__(self, site_id: int) -> None:
        self.company: DataLoader[int, Company | None] = _loader(
            lambda pks: companies.by_pks(site_id=site_id, pks=pks), None
        )
        self.company_member_count: DataLoader[int, int] = _loader(
            lambda pks: members.company_member_counts(site_id=site_id, company_pks=pks), 0
        )
        self.segment_member_count: DataLoader[int, int] = _loader(
            lambda pks: memberships.member_counts(site_id=site_id, segment_pks=pks), 0
        )
        self.segment_company_count: DataLoader[int, int] = _loader(
            lambda pks: memberships.company_counts(site_id=site_id, segment_pks=pks), 0
        )
        # (member id, include inactive) -> the segments it is an effective member of
        self.member_segments: DataLoader[tuple[str, bool], list[SegmentDef]] = _loader(
            lambda keys: lookups.segments_of_members(site_id=site_id, keys=keys), []
        )
        # (company pk, include inactive) -> the segments listing it
        self.company_segments: DataLoader[tuple[int, bool], list[SegmentDef]] = _loader(
            lambda keys: memberships.segments_of_companies(site_id=site_id, keys=keys), []
        )
        self.flag_segments: DataLoader[int, list[Segment]] = _loader(
            lambda pks: flags.segments_of_flags(site_id=site_id, flag_pks=pks), []
        )
        self.segment_flags: DataLoader[int, list[FeatureFlag]] = _loader(
            lambda pks: flags.flags_of_segments(site_id=site_id, segment_pks=pks), []
        )
        self.email_delivery_counts: DataLoader[int, dict[DeliveryStatus, int]] = _loader(
            lambda pks: email.delivery_counts(site_id=site_id, campaign_pks=pks), {}
        )
        # personas, segment options, where a segment is used
        self.personas = PersonaLoaders(site_id)
