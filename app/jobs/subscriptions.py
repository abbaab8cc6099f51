"""importJobProgress: an import job's state, at least once a second while it runs, then its
final state. The worker publishes the job's id whenever it saves progress (and its heartbeat
does at least once a second); a subscriber re-reads the row, of its own site only, on each
message, and at the latest every second whatever it hears (a job run by another process on
SQLite, where messages do not cross processes, still shows its progress). A re-read that has
not answered when the second is up (SQLite's one connection busy with the import's own
statements, a lock held on PostgreSQL) does not hold the stream up: the subscriber hears the
last state read, and the newer one when the read answers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import strawberry

from app.graphql.context import Info
from app.graphql.errors import PublicError
from app.jobs import service, worker
from app.jobs.models import ImportJob, JobStatus
from app.jobs.types import ImportJobType
from app.live.broker import broker

TOPIC = "import_jobs"
EVERY_SECONDS = 1.0
_READ_AHEAD = 0.25  # a quiet job is read again this long before its second is up
_FINAL = (JobStatus.SUCCEEDED, JobStatus.FAILED)


async def _publish(job: ImportJob) -> None:
    await broker.publish(topic=TOPIC, site_id=job.site_id, payload={"id": job.id})


worker.progress_listeners.append(_publish)


@strawberry.type
class ImportJobSubscriptions:
    @strawberry.subscription(
        description="The job's state now, then at least once a second while it runs, then its "
        "final state (SUCCEEDED or FAILED), after which the stream completes."
    )
    async def import_job_progress(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[ImportJobType, None]:
        site_id = info.context.site_id
        job = await service.get(site_id=site_id, job_id=id)
        if job is None:  # another site's job included: it is not there
            raise PublicError(f"import job {id!r} not found", "NOT_FOUND")
        pk = job.id
        with broker.subscribe(
            TOPIC, site_id=site_id, where=lambda payload: payload.get("id") == pk
        ) as subscription:
            yield ImportJobType.from_model(job)
            loop = asyncio.get_running_loop()
            said = loop.time()  # when the subscriber last heard the job
            read: asyncio.Task[ImportJob | None] | None = None
            try:
                while job.status not in _FINAL:
                    if read is None:
                        # a message (progress saved), or the second nearly up: read it again
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(
                                subscription.batch(),
                                max(0.0, said + EVERY_SECONDS - _READ_AHEAD - loop.time()),
                            )
                        read = asyncio.ensure_future(service.get(site_id=site_id, job_id=id))
                    await asyncio.wait({read}, timeout=max(0.0, said + EVERY_SECONDS - loop.time()))
                    if read.done():
                        found = read.result()
                        read = None
                        if found is None:  # the job is gone: nothing more will come
                            return
                        job = found
                    # else the read is late: the last state read, on time
                    yield ImportJobType.from_model(job)
                    said = loop.time()
            finally:
                if read is not None:
                    read.cancel()
