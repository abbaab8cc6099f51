"""Import jobs: an uploaded file, its progress, and the ids it lists in a segment."""

from __future__ import annotations

import enum
from typing import Any

from tortoise import fields
from tortoise.models import Model

from app.db import LongWork, owned_by
from app.memberships.bulk import Mode
from app.status import JobStatus

__all__ = ["ImportFormat", "ImportJob", "JobStatus"]


class ImportFormat(enum.Enum):
    CSV = "CSV"
    JSON = "JSON"
    JSONL = "JSONL"


class ImportJob(LongWork):
    """One import: its stored file, how far it has got, and its counts.

    Progress is saved with every batch, in the batch's transaction, so that a job taken
    over after a crash carries on from its last batch with the same counts.
    """

    status = fields.CharEnumField(JobStatus, max_length=10, default=JobStatus.PENDING)
    format = fields.CharEnumField(ImportFormat, max_length=5)
    # not a foreign key: a segment deleted meanwhile fails the job instead of vanishing from it
    segment_id = fields.BigIntField(null=True)
    mode = fields.CharEnumField(Mode, max_length=10, default=Mode.ADD)
    file_name = fields.CharField(max_length=255)  # as uploaded
    stored_name = fields.CharField(max_length=100)  # under settings.import_dir
    file_size = fields.BigIntField()
    # where the next batch starts: a byte offset at a row boundary, and the lines before it
    byte_offset = fields.BigIntField(default=0)
    line = fields.BigIntField(default=0)
    rows_read = fields.BigIntField(default=0)
    created = fields.BigIntField(default=0)
    updated = fields.BigIntField(default=0)
    added_to_segment = fields.BigIntField(default=0)
    removed_from_segment = fields.BigIntField(default=0)
    problems: Any = fields.JSONField(default=list)  # the first 1000: {"line", "message"}
    problem_count = fields.BigIntField(default=0)
    error = fields.TextField(null=True)
    # the worker running it, and when it last said so; attempts counts the takes
    owner = fields.CharField(max_length=64, null=True)
    heartbeat_at = fields.DatetimeField(null=True)
    attempts = fields.IntField(default=0)

    class Meta:
        table = "import_jobs"
        indexes = (("status", "id"), ("site_id", "id"))


class ImportJobIds(Model):
    """The ids one batch of a job imported, in file order, for the segment change at the end
    (one row per batch, not per id: a million ids are a few hundred rows)."""

    id = fields.BigIntField(primary_key=True)
    job: fields.ForeignKeyRelation[ImportJob] = owned_by("models.ImportJob", indexed=True)
    job_id: int
    ids: Any = fields.JSONField()

    class Meta:
        table = "import_job_ids"
