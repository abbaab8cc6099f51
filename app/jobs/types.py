"""GraphQL types of import jobs."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.graphql.errors import UserError
from app.graphql.nodes import from_attributes
from app.jobs.models import ImportFormat, ImportJob, JobStatus
from app.memberships import types as _memberships  # noqa: F401  (names Mode MembershipMode)
from app.memberships.bulk import Mode

strawberry.enum(JobStatus, name="JobStatus")
strawberry.enum(ImportFormat, name="ImportFormat")


@strawberry.type
class RowProblem:
    line: int = strawberry.field(description="Line of the file (0: the file as a whole).")
    message: str


@strawberry.type(name="ImportJob")
class ImportJobType:
    id: strawberry.ID
    status: JobStatus
    format: ImportFormat
    mode: Mode
    segment_id: strawberry.ID | None
    file_name: str
    rows_read: int
    created: int
    updated: int
    added_to_segment: int
    removed_from_segment: int = strawberry.field(description="OVERRIDE: members unlisted.")
    problems: list[RowProblem] = strawberry.field(description="Rows skipped; the first 1000.")
    problem_count: int = strawberry.field(description="Rows skipped, all of them.")
    error: str | None = strawberry.field(description="Why the job FAILED.")
    progress: float = strawberry.field(description="Share of the file read, 0 to 1.")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def from_model(cls, job: ImportJob) -> ImportJobType:
        done = job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
        read = 1.0 if job.status is JobStatus.SUCCEEDED or not job.file_size else None
        return from_attributes(
            cls,
            job,
            id=strawberry.ID(str(job.id)),
            segment_id=strawberry.ID(str(job.segment_id)) if job.segment_id else None,
            problems=[RowProblem(line=p["line"], message=p["message"]) for p in job.problems],
            progress=read if read is not None else min(job.byte_offset / job.file_size, 1.0),
            finished_at=job.finished_at if done else None,
        )


@strawberry.type
class ImportJobPayload:
    job: ImportJobType | None
    user_errors: list[UserError]
