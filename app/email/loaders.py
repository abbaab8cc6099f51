"""The email campaigns' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.email import service
from app.email.models import DeliveryStatus
from app.graphql.context import batch_loader


def delivery_counts(site_id: int) -> DataLoader[int, dict[DeliveryStatus, int]]:
    return batch_loader(lambda pks: service.delivery_counts(site_id=site_id, campaign_pks=pks), {})
