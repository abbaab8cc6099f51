"""A server that stops in the middle of an import does not lose it: the job is taken over
from its last saved batch (at once after a clean stop, once it is stale after a crash, and
by the app's own worker at start-up) and ends exactly as an uninterrupted run would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from tortoise.transactions import in_transaction

from app.jobs import service
from app.jobs import worker as worker_module
from app.jobs.models import ImportJob, JobStatus
from app.jobs.worker import MAX_ATTEMPTS, ImportWorker
from app.main import create_app
from app.settings import Settings, get_settings
from tests.factories import Api, members, segment
from tests.jobs.support import job, run_jobs, upload

SEGMENT = "query($id: ID!) { segment(id: $id) { members(first: 500) { edges { node { id } } } } }"


class Crash(BaseException):
    """The process dies: nothing of the worker's own clean-up runs."""


def small_batches(**extra: Any) -> Settings:
    return get_settings().model_copy(update={"import_batch_rows": 3, **extra})


# 20 rows: 3 bad, one repeated id, two members that exist already
FILE = (
    "id,email,tier\n"
    + "".join(
        f"u{i},{'bad' if i % 7 == 3 else f'u{i}@example.com'},{'gold' if i % 2 else 'silver'}\n"
        for i in range(19)
    )
    + "u1,,platinum\n"
)


async def given_site(api: Api) -> str:
    """Members u0 and u5 and a segment listing old1 and u0; returns the segment id."""
    await members(api, "u0", "u5", "old1")
    seg = await segment(api, "S", memberIds=["old1", "u0"])
    return str(seg["id"])


async def listed(api: Api, segment_id: str) -> list[str]:
    data = await api.query(SEGMENT, {"id": segment_id})
    return sorted(e["node"]["id"] for e in data["segment"]["members"]["edges"])


def outcome(found: dict[str, Any] | None) -> dict[str, Any]:
    assert found is not None
    keys = (
        "status",
        "rowsRead",
        "created",
        "updated",
        "addedToSegment",
        "removedFromSegment",
        "problems",
        "problemCount",
        "error",
    )
    return {k: found[k] for k in keys}


async def crash_after(batches: int, settings: Settings, owner: str = "crashed") -> ImportJob:
    """Run the waiting job until `batches` batches are saved, then die; returns the job row."""
    published = 0

    async def die(j: ImportJob) -> None:
        nonlocal published
        published += 1
        if published > batches:  # the first publication is the job's start
            raise Crash

    worker_module.progress_listeners.append(die)
    try:
        with pytest.raises(Crash):
            await ImportWorker(settings, owner=owner).run_once()
    finally:
        worker_module.progress_listeners.remove(die)
    row = await ImportJob.filter(status=JobStatus.RUNNING).get()
    return row


async def test_a_crashed_import_resumes_from_its_last_batch_with_the_same_result(
    api: Api, other_api: Api
) -> None:
    # given the same data on two sites, and the same OVERRIDE import for each
    settings = small_batches()
    crashed_segment = await given_site(api)
    control_segment = await given_site(other_api)
    crashed = await upload(api, FILE, "CSV", segment_id=crashed_segment, mode="OVERRIDE")

    # when the first site's import dies after two batches
    row = await crash_after(2, settings)
    assert row.id == int(crashed["job"]["id"])
    assert (row.rows_read, row.owner) == (6, "crashed")
    assert row.byte_offset > 0
    # then its segment is untouched so far
    assert await listed(api, crashed_segment) == ["old1", "u0"]

    # and while the dead worker's report is fresh, nobody takes the job
    assert await ImportWorker(settings, owner="restarted").run_once() is None
    # but once it is stale, a restarted worker does, from the saved position
    await ImportJob.filter(id=row.id).update(heartbeat_at=datetime.now(UTC) - timedelta(minutes=1))
    resumed = await ImportWorker(settings, owner="restarted").run_once()
    assert resumed is not None and resumed.id == row.id

    # and the other site's import, run without a stop, ends exactly the same
    control = await upload(other_api, FILE, "CSV", segment_id=control_segment, mode="OVERRIDE")
    await run_jobs(settings)
    after_crash = outcome(await job(api, crashed["job"]["id"]))
    uninterrupted = outcome(await job(other_api, control["job"]["id"]))
    assert after_crash == uninterrupted
    assert after_crash["status"] == "SUCCEEDED"
    assert (after_crash["rowsRead"], after_crash["problemCount"]) == (20, 3)
    assert (after_crash["created"], after_crash["updated"]) == (14, 3)
    assert await listed(api, crashed_segment) == await listed(other_api, control_segment)
    assert "old1" not in await listed(api, crashed_segment)
    assert (await ImportJob.get(id=row.id)).attempts == 2


async def test_a_clean_stop_lets_go_of_the_job_at_once(api: Api) -> None:
    # given a running worker that is stopped while its job waits after the first batch
    settings = small_batches()
    payload = await upload(api, FILE, "CSV")
    hold = asyncio.Event()
    reached = asyncio.Event()
    calls = 0

    async def pause(j: ImportJob) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            reached.set()
            await hold.wait()

    worker_module.progress_listeners.append(pause)
    worker = ImportWorker(settings, owner="stopping")
    try:
        worker.start()
        await asyncio.wait_for(reached.wait(), 10)
        await worker.stop()
    finally:
        worker_module.progress_listeners.remove(pause)
    # then the job is RUNNING with nobody on it, one batch in
    row = await ImportJob.get(id=int(payload["job"]["id"]))
    assert (row.status, row.owner, row.heartbeat_at, row.rows_read) == (
        JobStatus.RUNNING,
        None,
        None,
        3,
    )
    assert row.attempts == 0  # a clean stop is not an attempt that failed
    # and the next worker takes it straight away and finishes it
    assert await run_jobs(settings) == 1
    done = await job(api, payload["job"]["id"])
    assert done is not None and (done["status"], done["rowsRead"]) == ("SUCCEEDED", 20)


async def test_the_app_resumes_a_job_left_running_when_it_starts(api: Api) -> None:
    # given a job left RUNNING by a server that died long enough ago
    settings = small_batches(import_worker=True)
    seg = await given_site(api)
    payload = await upload(api, FILE, "CSV", segment_id=seg, mode="OVERRIDE")
    row = await crash_after(1, settings)
    await ImportJob.filter(id=row.id).update(heartbeat_at=datetime.now(UTC) - timedelta(minutes=1))
    # when a server starts
    app = create_app(settings, init_orm=False)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            restarted = Api(client, api.site, api.key, api.role)
            # then its worker finishes the job without being asked
            status = None
            for _ in range(200):
                found = await job(restarted, payload["job"]["id"])
                status = found["status"] if found else None
                if status == "SUCCEEDED":
                    break
                await asyncio.sleep(0.05)
    assert status == "SUCCEEDED"
    done = await job(api, payload["job"]["id"])
    assert done is not None and (done["rowsRead"], done["created"]) == (20, 14)
    assert await listed(api, seg) == sorted({f"u{i}" for i in range(19)} - {"u3", "u10", "u17"})


async def test_a_worker_that_lost_its_job_changes_nothing(api: Api) -> None:
    # given a job taken over from a worker that stalled
    settings = small_batches()
    payload = await upload(api, FILE, "CSV")
    stalled = await crash_after(1, settings, owner="stalled")
    await ImportJob.filter(id=stalled.id).update(
        heartbeat_at=datetime.now(UTC) - timedelta(hours=1)
    )
    await run_jobs(settings)
    # when the stalled worker wakes up and saves its next batch
    stalled.rows_read = 999
    async with in_transaction() as tx:
        with pytest.raises(service.LostJob):
            await service.save_progress(tx, stalled)
    # then the job keeps the outcome of the worker that finished it
    done = await job(api, payload["job"]["id"])
    assert done is not None and (done["status"], done["rowsRead"]) == ("SUCCEEDED", 20)


async def test_a_job_that_keeps_stopping_the_server_is_failed(api: Api) -> None:
    # given a job that has been taken (and crashed) as often as allowed
    settings = small_batches()
    seg = await given_site(api)
    payload = await upload(api, FILE, "CSV", segment_id=seg, mode="OVERRIDE")
    await ImportJob.filter(id=int(payload["job"]["id"])).update(attempts=MAX_ATTEMPTS)
    # when it is taken once more
    await run_jobs(settings)
    # then it fails, saying so, and its segment is as it was
    done = await job(api, payload["job"]["id"])
    assert done is not None and done["status"] == "FAILED"
    assert f"stopped unfinished {MAX_ATTEMPTS} times" in done["error"]
    assert await listed(api, seg) == ["old1", "u0"]
