"""The companies' DataLoaders, made per request through the context."""

from __future__ import annotations

from strawberry.dataloader import DataLoader

from app.companies import service
from app.companies.models import Company
from app.graphql.context import batch_loader
from app.members import service as members


def company(site_id: int) -> DataLoader[int, Company | None]:
    return batch_loader(lambda pks: service.by_pks(site_id=site_id, pks=pks), None)


def member_count(site_id: int) -> DataLoader[int, int]:
    """Company pk -> how many members name it."""
    return batch_loader(
        lambda pks: members.company_member_counts(site_id=site_id, company_pks=pks), 0
    )
