"""Import jobs: storing an upload as a job, reading jobs, and the job row's life as a worker
sees it (claim, save a batch, finish, fail, release).

Every write a worker makes names the worker (``owner``): a worker that has lost its job
to another (it stopped reporting, and the job was taken over) changes nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.expressions import F, Q

from app.db import execute, fetch, json_value
from app.errors import DomainError, ErrorCode
from app.ids import by_id
from app.jobs.models import ImportFormat, ImportJob, ImportJobIds, JobStatus
from app.memberships.bulk import Mode
from app.segments import service as segments
from app.settings import Settings

MAX_PROBLEMS = 1000
_COPY_CHUNK = 1024 * 1024


class LostJob(Exception):
    """This worker no longer owns the job (another took it over): stop, change nothing."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file as the service takes it: an open binary file and its name."""

    file: BinaryIO
    name: str


def import_dir(settings: Settings) -> Path:
    path = Path(settings.import_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _store(source: BinaryIO, target: Path, limit: int) -> int:
    """Copy an upload to its place, refusing it past the limit; returns its size."""
    source.seek(0)
    size = 0
    with target.open("wb") as out:
        while chunk := source.read(_COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                break
            out.write(chunk)
    if size > limit:
        target.unlink(missing_ok=True)
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"the file is over the upload limit of {limit} bytes",
            ["file"],
        )
    return size


async def create(
    *,
    site_id: int,
    actor: str,
    upload: Upload,
    fmt: ImportFormat,
    segment_id: str | None,
    mode: Mode,
    settings: Settings,
) -> ImportJob:
    """Store the file and a PENDING job for it; a worker runs it. Refused (DomainError) for
    a segment the site does not have, a DELETE mode, or a file over the upload limit."""
    if mode is Mode.DELETE:
        raise DomainError(
            ErrorCode.INVALID, "an import can ADD to a segment or OVERRIDE it", ["mode"]
        )
    segment_pk = None
    if segment_id is not None:
        segment = await segments.get_or_fail(
            site_id=site_id, segment_id=segment_id, field=["segment_id"]
        )
        segment_pk = segment.id
    stored_name = f"{uuid.uuid4().hex}.{fmt.value.lower()}"
    path = import_dir(settings) / stored_name
    size = await asyncio.to_thread(_store, upload.file, path, settings.max_upload_bytes)
    try:
        job = await ImportJob.create(
            site_id=site_id,
            format=fmt,
            segment_id=segment_pk,
            mode=mode,
            actor=actor[:100],
            file_name=(upload.name or stored_name)[:255],
            stored_name=stored_name,
            file_size=size,
        )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return job


async def get(*, site_id: int, job_id: str) -> ImportJob | None:
    return await by_id(ImportJob.filter(site_id=site_id), job_id)


# --------------------------------------------------------------------------- worker side


def _claimable(stale_before: datetime) -> Q:
    """PENDING jobs, and RUNNING ones whose worker stopped reporting (or let go)."""
    return Q(status=JobStatus.PENDING) | Q(
        Q(status=JobStatus.RUNNING)
        & (Q(heartbeat_at__isnull=True) | Q(heartbeat_at__lt=stale_before))
    )


async def claim(*, owner: str, stale_seconds: float) -> ImportJob | None:
    """Take the oldest claimable job for this worker; None when there is none.

    The take is one conditional UPDATE, so two workers (or processes) never both get a job.
    """
    now = datetime.now(UTC)
    stale_before = now - timedelta(seconds=stale_seconds)
    candidates = (
        await ImportJob.filter(_claimable(stale_before))
        .order_by("id")
        .limit(10)
        .values_list("id", flat=True)
    )
    for pk in candidates:
        taken = await ImportJob.filter(Q(id=pk) & _claimable(stale_before)).update(
            status=JobStatus.RUNNING, owner=owner, heartbeat_at=now, attempts=F("attempts") + 1
        )
        if taken:
            await ImportJob.filter(id=pk, started_at__isnull=True).update(started_at=now)
            return await ImportJob.get(id=pk)
    return None


async def heartbeat(job: ImportJob) -> bool:
    """Say the worker is still at it; False when the job is no longer this worker's."""
    n = await ImportJob.filter(id=job.id, owner=job.owner, status=JobStatus.RUNNING).update(
        heartbeat_at=datetime.now(UTC)
    )
    return bool(n)


async def release(job: ImportJob, *, at_once: bool) -> None:
    """Let go of a RUNNING job: another worker takes it at once (a clean stop, which does
    not count as an attempt), or once it is stale (after an error, which does)."""
    owned = ImportJob.filter(id=job.id, owner=job.owner, status=JobStatus.RUNNING)
    if at_once:
        await owned.update(owner=None, heartbeat_at=None, attempts=F("attempts") - 1)
    else:
        await owned.update(owner=None, heartbeat_at=datetime.now(UTC))


# what a batch moves on (save_progress), and what the end settles (finish)
_PROBLEMS = ("problems", "problem_count")
_PROGRESS = ("byte_offset", "line", "rows_read", "created", "updated", *_PROBLEMS)
_FINISHED = ("finished_at", "added_to_segment", "removed_from_segment", *_PROBLEMS)


async def _update_owned(
    connection: BaseDBAsyncClient, job: ImportJob, names: Sequence[str], **values: Any
) -> None:
    """Write the job's attributes of those names, and ``values``, while the job is still
    this worker's; LostJob when it is not."""
    n = await (
        ImportJob.filter(id=job.id, owner=job.owner, status=JobStatus.RUNNING)
        .using_db(connection)
        .update(**{name: getattr(job, name) for name in names}, **values)
    )
    if not n:
        raise LostJob(f"import job {job.id} is no longer run by {job.owner}")


def add_problems(job: ImportJob, problems: Sequence[tuple[int, str]]) -> None:
    """Count problems on the job, keeping the first MAX_PROBLEMS."""
    room = MAX_PROBLEMS - len(job.problems)
    if room > 0:
        job.problems = [
            *job.problems,
            *({"line": line, "message": message} for line, message in problems[:room]),
        ]
    job.problem_count += len(problems)


async def save_progress(connection: BaseDBAsyncClient, job: ImportJob) -> None:
    """Write the job's counts and position (inside the batch's transaction)."""
    await _update_owned(connection, job, _PROGRESS, heartbeat_at=datetime.now(UTC))


async def finish(connection: BaseDBAsyncClient, job: ImportJob, *, error: str | None) -> None:
    """SUCCEEDED (or FAILED with the error), its listed ids dropped, in the given transaction."""
    await execute("DELETE FROM import_job_ids WHERE job_id = $1", [job.id], connection)
    job.status = JobStatus.FAILED if error else JobStatus.SUCCEEDED
    job.error = error  # type: ignore[assignment]  # (a nullable TextField)
    job.finished_at = datetime.now(UTC)
    await _update_owned(
        connection, job, _FINISHED, status=job.status, error=error, heartbeat_at=job.finished_at
    )


async def stage_ids(connection: BaseDBAsyncClient, job: ImportJob, ids: Sequence[str]) -> None:
    """Remember ids a batch of the job imported, for its segment change at the end."""
    if ids:
        await ImportJobIds.create(using_db=connection, job_id=job.id, ids=list(ids))


async def staged_ids(connection: BaseDBAsyncClient, job: ImportJob) -> list[str]:
    """Every id the job imported, in file order."""
    ids: list[str] = []
    after = 0
    while True:
        rows = await fetch(
            "SELECT id, ids FROM import_job_ids WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT 20",
            [job.id, after],
            connection,
        )
        for row in rows:
            ids.extend(json_value(row["ids"]))
        if len(rows) < 20:
            return ids
        after = int(rows[-1]["id"])
