"""The DataLoaders of personas and options, made per request with the others
(``info.context.loaders.personas``): one query per kind, whatever the number of nodes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from app.email.models import EmailCampaign
from app.personas import members, options, service
from app.personas.models import Persona, SegmentOption
from app.personas.service import Attachment
from app.segments import lifecycle
from app.segments.models import Segment

K = TypeVar("K")
V = TypeVar("V")


def _loader(batch: Callable[[list[K]], Awaitable[dict[K, V]]], default: Any) -> DataLoader[K, V]:
    async def load(keys: Sequence[K]) -> list[V]:
        found = await batch(list(keys))
        return [found.get(k, default) for k in keys]

    return DataLoader(load_fn=load)


class PersonaLoaders:
    def __init__(self, site_id: int) -> None:
        self.attachments: DataLoader[int, list[Attachment]] = _loader(
            lambda pks: service.attachments_of(site_id=site_id, persona_pks=pks), []
        )
        self.member_count: DataLoader[int, int] = _loader(
            lambda pks: members.member_counts(site_id=site_id, persona_pks=pks), 0
        )
        self.segment_options: DataLoader[int, list[SegmentOption]] = _loader(
            lambda pks: options.of_segments(site_id=site_id, segment_pks=pks), []
        )
        self.segment_personas: DataLoader[int, list[Persona]] = _loader(
            lambda pks: service.personas_of_segments(site_id=site_id, segment_pks=pks), []
        )
        # the segments whose rules name each segment
        self.referring_segments: DataLoader[int, list[Segment]] = _loader(
            lambda pks: lifecycle.referring_segments(site_id=site_id, segment_pks=pks), []
        )
        self.sending_campaigns: DataLoader[int, list[EmailCampaign]] = _loader(
            lambda pks: lifecycle.sending_campaigns(site_id=site_id, segment_pks=pks), []
        )
