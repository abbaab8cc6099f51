"""The DataLoaders of personas and options, made per request with the others
(``info.context.loaders.get(...)``): one query per kind, whatever the number of nodes."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.email import service as email
from app.email.models import EmailCampaign
from app.graphql.context import batch_loader
from app.personas import members, options, service
from app.personas.models import Persona, SegmentOption
from app.personas.service import Attachment
from app.segments import lifecycle
from app.segments.models import Segment


def attachments(site_id: int) -> DataLoader[int, list[Attachment]]:
    return batch_loader(lambda pks: service.attachments_of(site_id=site_id, persona_pks=pks), [])


def member_count(site_id: int) -> DataLoader[int, int]:
    return batch_loader(lambda pks: members.member_counts(site_id=site_id, persona_pks=pks), 0)


def segment_options(site_id: int) -> DataLoader[int, list[SegmentOption]]:
    return batch_loader(lambda pks: options.of_segments(site_id=site_id, segment_pks=pks), [])


def segment_personas(site_id: int) -> DataLoader[int, list[Persona]]:
    return batch_loader(
        lambda pks: service.personas_of_segments(site_id=site_id, segment_pks=pks), []
    )


def referring_segments(site_id: int) -> DataLoader[int, list[Segment]]:
    """Segment pk -> the segments whose rules name it."""
    return batch_loader(
        lambda pks: lifecycle.referring_segments(site_id=site_id, segment_pks=pks), []
    )


def sending_campaigns(site_id: int) -> DataLoader[int, list[EmailCampaign]]:
    return batch_loader(lambda pks: email.sending_campaigns(site_id=site_id, segment_pks=pks), [])
