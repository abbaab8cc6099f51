"""The import worker: a task in the server process that runs import jobs one at a time.

A job is read in batches; each batch (its members upserted, its ids remembered for the
segment, the job's counts and position) is one transaction, so a job taken over after a
crash carries on from its last batch and ends with the counts of an uninterrupted run.
The segment change comes last, in one transaction of its own with the job's SUCCEEDED:
a job that fails or stops before leaves the segment as it was.

Jobs left RUNNING are taken over once their worker has not reported for
``import_stale_seconds`` (a worker stopped cleanly lets go at once), so a restarted
server resumes them, and several server processes never run one job twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from tortoise.transactions import in_transaction

from app.background import started
from app.companies.models import Company
from app.errors import DomainError, ErrorCode
from app.jobs import service
from app.jobs.models import ImportJob
from app.jobs.parse import Batch, Reader, Row, Unreadable, check_utf8, open_reader
from app.members import service as members
from app.memberships import path
from app.memberships.models import ListedSource
from app.memberships.path import ListChange, Lists
from app.settings import Settings

log = logging.getLogger("segments.jobs")

MAX_ATTEMPTS = 3  # takes of one job (crashes included) before it is failed
POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 1.0

ProgressListener = Callable[[ImportJob], Awaitable[None]]
progress_listeners: list[ProgressListener] = []
_workers: set[ImportWorker] = set()


async def _progress(job: ImportJob) -> None:
    """Publish a job's state: called whenever its row has been saved, and at least once a
    second while it runs (the hook for importJobProgress subscriptions)."""
    for listener in list(progress_listeners):
        await listener(job)


def wake_workers() -> None:
    """Tell this process's workers a job is waiting, so they need not wait for their poll."""
    for worker in list(_workers):
        worker.wake()


class _Failed(Exception):
    """The job cannot finish: it fails with this message (and the line, if any)."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# --------------------------------------------------------------------------- one job


class _Companies:
    """The company ids of one job's site known to exist, so that each is looked up once."""

    MAX_KNOWN = 100_000

    def __init__(self, site_id: int) -> None:
        self.site_id = site_id
        self.known: set[str] = set()

    async def unknown(self, rows: list[Row]) -> set[str]:
        """The company ids the rows name that the site does not have."""
        wanted = {r.data.company_id for r in rows if isinstance(r.data.company_id, str)}
        missing = wanted - self.known
        if not missing:
            return set()
        found = {
            str(c)
            for c in await Company.filter(
                site_id=self.site_id, external_id__in=sorted(missing)
            ).values_list("external_id", flat=True)
        }
        if len(self.known) + len(found) > self.MAX_KNOWN:
            self.known.clear()
        self.known |= found
        return missing - found


async def _save_batch(job: ImportJob, batch: Batch, companies: _Companies) -> None:
    """One batch, in one transaction: members upserted, ids remembered, progress saved."""
    problems = [(p.line, p.message) for p in batch.problems]
    unknown = await companies.unknown(batch.rows)
    rows = []
    for row in batch.rows:
        company = row.data.company_id
        if isinstance(company, str) and company in unknown:
            problems.append((row.line, f"company {company!r} not found"))
        else:
            rows.append(row)
    problems.sort()
    async with in_transaction() as tx:
        data = [r.data for r in rows]
        created, _ = await members.upsert(site_id=job.site_id, rows=data, connection=tx)
        if job.segment_id is not None:
            await service.stage_ids(tx, job, [d.external_id for d in data])
        job.rows_read += batch.rows_read
        job.created += created
        # every applied row that did not create its member updated it (a repeated id too), so
        # the counts do not depend on where batches happen to end
        job.updated += len(rows) - created
        service.add_problems(job, problems)
        job.byte_offset, job.line = batch.end_offset, batch.end_line
        await service.save_progress(tx, job)


async def _finish(job: ImportJob) -> None:
    """The segment change and SUCCEEDED, in one transaction: all of it happens or none."""
    async with in_transaction() as tx:
        if job.segment_id is not None:
            ids = await service.staged_ids(tx, job)
            step = ListChange(
                job.segment_id, Lists.MEMBERS, ids, job.mode, source=ListedSource.IMPORT
            )
            try:
                (outcome,) = await path.change(
                    tx, site_id=job.site_id, actor=job.actor, steps=[step]
                )
            except DomainError as error:
                if error.code is not ErrorCode.NOT_FOUND:
                    raise
                raise _Failed("the segment was deleted before the import finished") from error
            del ids, step
            job.added_to_segment = outcome.added
            job.removed_from_segment = outcome.removed
        await service.finish(tx, job, error=None)


async def _fail(job: ImportJob, message: str, line: int) -> None:
    service.add_problems(job, [(line, message)])
    async with in_transaction() as tx:
        await service.finish(tx, job, error=message)


class _Heartbeat:
    """Publishes the job, and reports it alive on its row, every second while it runs.

    The row is written by a task of its own, so that publishing goes on while a long
    transaction (the segment change) holds the database (SQLite serialises writers).
    """

    def __init__(self, job: ImportJob) -> None:
        self.job = job
        self.published = time.monotonic()
        self._task: asyncio.Task[None] | None = None
        self._write: asyncio.Task[None] | None = None

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            if time.monotonic() - self.published >= HEARTBEAT_SECONDS:
                try:
                    await self.publish()
                except Exception:  # a listener's fault is no reason to stop beating
                    log.exception("import job %s: publishing progress failed", self.job.id)
            if self._write is None or self._write.done():
                self._write = asyncio.create_task(self._report())

    async def _report(self) -> None:
        try:
            await service.heartbeat(self.job)
        except Exception:  # a missed beat only brings a takeover closer
            log.warning("import job %s: heartbeat failed", self.job.id, exc_info=True)

    async def publish(self) -> None:
        self.published = time.monotonic()
        await _progress(self.job)

    async def __aenter__(self) -> _Heartbeat:
        self._task = asyncio.create_task(self._beat())
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in (self._task, self._write):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task


async def _read_all(job: ImportJob, path: Path, batch_rows: int, beat: _Heartbeat) -> None:
    """Every batch from the job's position to the end of the file, the next one read (in a
    thread) while the last one is written."""
    if job.byte_offset == 0:
        await asyncio.to_thread(check_utf8, path)
    reader: Reader = await asyncio.to_thread(
        open_reader, path, job.format, offset=job.byte_offset, line=job.line
    )

    def read_next() -> asyncio.Future[Batch]:
        return asyncio.ensure_future(asyncio.to_thread(reader.next_batch, batch_rows))

    pending: asyncio.Future[Batch] | None = read_next()
    companies = _Companies(job.site_id)
    try:
        while pending is not None:
            batch = await pending
            pending = None if batch.done else read_next()
            await _save_batch(job, batch, companies)
            await beat.publish()
    finally:
        if pending is not None:  # the reader's thread must be done with the file first
            with contextlib.suppress(BaseException):
                await pending
        reader.close()


async def run_job(job: ImportJob, settings: Settings) -> None:
    """Run a job this worker has claimed, to SUCCEEDED or FAILED.

    A file that cannot be read, or a segment gone, fails the job; any other error leaves
    it RUNNING for another take (the caller decides), and LostJob means it is not ours.
    """
    path = service.import_dir(settings) / job.stored_name
    async with _Heartbeat(job) as beat:
        try:
            if job.attempts > MAX_ATTEMPTS:
                raise _Failed(f"the import stopped unfinished {MAX_ATTEMPTS} times; see the log")
            if not path.is_file():
                # most often a job taken over by a process that keeps its uploads elsewhere
                raise _Failed(
                    f"the uploaded file {job.stored_name} is not in this process's IMPORT_DIR"
                    f" ({path.parent.resolve()}): every process that runs the import worker"
                    " must share IMPORT_DIR (or the file was deleted)"
                )
            await beat.publish()
            await _read_all(job, path, settings.import_batch_rows, beat)
            if job.rows_read and not job.created + job.updated:
                # a file of nothing but bad rows is a wrong file: it must not empty a segment
                raise _Failed(f"none of the {job.rows_read} rows could be imported (see problems)")
            await _finish(job)
        except Unreadable as e:
            await _fail(job, e.message, e.line)
        except _Failed as e:
            await _fail(job, e.message, e.line)
        await beat.publish()
    path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the worker


class ImportWorker:
    """Claims jobs and runs them, one at a time, until stopped."""

    def __init__(self, settings: Settings, *, owner: str | None = None) -> None:
        self.settings = settings
        self.owner = owner or f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.current: ImportJob | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> ImportJob | None:
        """Claim one job and run it; the job (as it ended), or None when none was waiting."""
        job = await service.claim(
            owner=self.owner, stale_seconds=self.settings.import_stale_seconds
        )
        if job is None:
            return None
        self.current = job
        try:
            await run_job(job, self.settings)
        except service.LostJob:
            log.warning("import job %s was taken over by another worker", job.id)
        except Exception:
            log.exception("import job %s stopped on an error; it will be taken again", job.id)
            with contextlib.suppress(Exception):
                await service.release(job, at_once=False)
        finally:
            self.current = None
        return job

    async def _loop(self) -> None:
        while True:
            try:
                job = await self.run_once()
            except Exception:  # the database is away: try again after a poll
                log.exception("import worker: could not claim a job")
                job = None
            if job is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)

    def start(self) -> None:
        _workers.add(self)
        self._task = asyncio.create_task(self._loop(), name=f"import-worker {self.owner}")

    async def stop(self) -> None:
        """Stop; a job in the middle of a batch lets go, to be resumed at the next start."""
        _workers.discard(self)
        job = self.current
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if job is not None:
            with contextlib.suppress(Exception):
                await service.release(job, at_once=True)


def running_worker(settings: Settings) -> AbstractAsyncContextManager[ImportWorker | None]:
    """The app lifespan's worker (none when import_worker is off)."""
    return started(ImportWorker(settings) if settings.import_worker else None)
