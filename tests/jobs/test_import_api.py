"""importMembers over GraphQL multipart, run by the worker: every format, typed values, bad
rows with their lines, unreadable files, segment ADD and OVERRIDE (all or nothing), progress,
the worker loop, userErrors, roles and tenancy."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.auth.models import Role
from app.db import is_postgres
from app.jobs import worker as worker_module
from app.jobs.models import ImportJob, JobStatus
from app.jobs.worker import ImportWorker
from app.memberships import audit as audit_module
from app.memberships import bulk as bulk_module
from app.settings import get_settings
from tests.factories import Api, companies, members, segment
from tests.jobs.support import JOB, import_file, job, multipart, run_jobs, upload

MEMBER = """
query($id: ID!) { member(id: $id) { id email name attributes company { id } } }
"""

SEGMENT = """
query($id: ID!) {
  segment(id: $id) {
    memberCount
    members(first: 500) { edges { source node { id } } }
    events { edges { node { kind actor count sampleIds } } }
  }
}
"""

MEMBER_IDS = "query { members(first: 500) { edges { node { id } } } }"


async def member(api: Api, member_id: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = (await api.query(MEMBER, {"id": member_id}))["member"]
    return found


async def listed(api: Api, segment_id: str) -> dict[str, str]:
    data = await api.query(SEGMENT, {"id": segment_id})
    return {e["node"]["id"]: e["source"] for e in data["segment"]["members"]["edges"]}


async def events(api: Api, segment_id: str) -> list[dict[str, Any]]:
    data = await api.query(SEGMENT, {"id": segment_id})
    return [e["node"] for e in data["segment"]["events"]["edges"]]


async def member_ids(api: Api) -> list[str]:
    data = await api.query(MEMBER_IDS)
    return [e["node"]["id"] for e in data["members"]["edges"]]


def stored_files() -> list[Path]:
    path = Path(get_settings().import_dir)
    return sorted(path.iterdir()) if path.exists() else []


CSV = (
    "id,email,name,company_id,tier,points,ratio,vip\n"
    "u1,ann@example.com,Ann,c1,gold,1200,2.5,true\n"
    "u2,,Bob,,silver,,,false\n"
)
JSON = """[
  {"id": "u1", "email": "ann@example.com", "name": "Ann", "company_id": "c1",
   "tier": "gold", "points": 1200, "ratio": 2.5, "vip": true},
  {"id": "u2", "name": "Bob", "tier": "silver", "vip": false}
]"""
JSONL = (
    '{"id": "u1", "email": "ann@example.com", "name": "Ann", "company_id": "c1",'
    ' "tier": "gold", "points": 1200, "ratio": 2.5, "vip": true}\n'
    '{"id": "u2", "name": "Bob", "tier": "silver", "vip": false}\n'
)


# --------------------------------------------------------------------------- members


@pytest.mark.parametrize(("fmt", "content"), [("CSV", CSV), ("JSON", JSON), ("JSONL", JSONL)])
async def test_each_format_upserts_its_members(api: Api, fmt: str, content: str) -> None:
    # given company c1 and member u2 with attributes of its own
    await companies(api, "c1")
    await members(api, "u2", email="bob@example.com", attributes={"tier": "bronze", "keep": 1})
    # when the file is uploaded
    payload = await upload(api, content, fmt, filename=f"crm.{fmt.lower()}")
    # then a PENDING job comes back at once, before any row is read
    assert payload["userErrors"] == []
    pending = payload["job"]
    assert pending["status"] == "PENDING"
    assert pending["rowsRead"] == 0
    assert (pending["fileName"], pending["format"], pending["mode"]) == (
        f"crm.{fmt.lower()}",
        fmt,
        "ADD",
    )
    assert await member(api, "u1") is None
    # and once the worker has run it, it SUCCEEDED with exact counts
    assert await run_jobs() == 1
    done = await job(api, pending["id"])
    assert done is not None
    assert done["status"] == "SUCCEEDED"
    assert (done["rowsRead"], done["created"], done["updated"]) == (2, 1, 1)
    assert done["problems"] == [] and done["problemCount"] == 0 and done["error"] is None
    assert done["progress"] == 1.0
    assert done["startedAt"] is not None and done["finishedAt"] is not None
    # and the members hold the file's values, typed, merged into what was stored
    u1 = await member(api, "u1")
    assert u1 == {
        "id": "u1",
        "email": "ann@example.com",
        "name": "Ann",
        "attributes": {"tier": "gold", "points": 1200, "ratio": 2.5, "vip": True},
        "company": {"id": "c1"},
    }
    u2 = await member(api, "u2")
    assert u2 is not None
    assert u2["email"] == "bob@example.com"  # absent from the file: kept
    assert u2["name"] == "Bob"
    assert u2["attributes"] == {"tier": "silver", "keep": 1, "vip": False}
    # and the stored file is gone
    assert stored_files() == []


async def test_bad_rows_are_skipped_and_reported_with_their_line(api: Api) -> None:
    # given a CSV with good rows and one of each kind of bad row
    content = (
        "id,email,name,company_id,note\n"
        "good1,a@example.com,,,\n"  # 2
        ",b@example.com,,,\n"  # 3: no id
        "bad-email,not-an-email,,,\n"  # 4
        f"long-name,,{'n' * 300},,\n"  # 5
        "no-company,,,ghost,\n"  # 6
        f"long-value,,,,{'v' * 5000}\n"  # 7
        "good2,,Two,,\n"  # 8
    )
    # when it is imported
    done = await import_file(api, content, "CSV")
    # then the good rows are in, and each bad one is a problem at its line
    assert done["status"] == "SUCCEEDED"
    assert (done["rowsRead"], done["created"], done["updated"]) == (7, 2, 0)
    assert [p["line"] for p in done["problems"]] == [3, 4, 5, 6, 7]
    messages = [p["message"] for p in done["problems"]]
    assert "no id" in messages[0]
    assert "not an email" in messages[1]
    assert "name is over" in messages[2]
    assert "company 'ghost' not found" in messages[3]
    assert "'note' is over" in messages[4]
    assert done["problemCount"] == 5
    assert sorted(await member_ids(api)) == ["good1", "good2"]


async def test_only_the_first_1000_problems_are_kept_but_all_are_counted(api: Api) -> None:
    content = "id,email\n" + "".join(f"u{i},bad{i}\n" for i in range(1200)) + "ok,\n"
    done = await import_file(api, content, "CSV")
    assert done["status"] == "SUCCEEDED"
    assert done["problemCount"] == 1200
    assert len(done["problems"]) == 1000
    assert done["problems"][0]["line"] == 2 and done["problems"][-1]["line"] == 1001
    assert done["created"] == 1


async def test_a_repeated_id_counts_once_as_created_then_as_updated(api: Api) -> None:
    content = "id,tier,points\nu1,gold,1\nu1,,2\nu2,silver,\n"
    done = await import_file(api, content, "CSV")
    assert (done["created"], done["updated"], done["rowsRead"]) == (2, 1, 3)
    u1 = await member(api, "u1")
    assert u1 is not None and u1["attributes"] == {"tier": "gold", "points": 2}


@pytest.mark.parametrize(
    ("fmt", "content", "message"),
    [
        ("JSON", "id,email\nu1,a@example.com\n", "(is it CSV?)"),
        ("CSV", '[{"id": "u1"}]', "looks like JSON, not CSV"),
        ("JSONL", '[{"id": "u1"}]\n', "is the file a JSON array?"),
        ("CSV", "id,name\nu1,Ren\xe9e\n".encode("latin-1"), "not UTF-8"),
        ("CSV", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        ("CSV", "", "the file is empty"),
    ],
    ids=["csv-as-json", "json-as-csv", "json-as-jsonl", "latin-1", "binary", "empty"],
)
async def test_a_file_that_cannot_be_read_fails_the_job(
    api: Api, fmt: str, content: str | bytes, message: str
) -> None:
    # given a segment listing m1
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    # when a file that is not what it says is imported into it with OVERRIDE
    done = await import_file(api, content, fmt, segment_id=seg["id"], mode="OVERRIDE")
    # then the job FAILED with a message saying why, and nothing changed
    assert done["status"] == "FAILED"
    assert message in done["error"]
    assert done["problems"][-1]["message"] == done["error"]
    assert done["finishedAt"] is not None
    assert done["created"] == 0
    assert await listed(api, seg["id"]) == {"m1": "MANUAL"}
    assert await member_ids(api) == ["m1"]
    assert stored_files() == []


# --------------------------------------------------------------------------- segments


async def test_import_with_add_lists_the_members_in_the_segment(api: Api) -> None:
    # given a segment listing m0 by hand
    await members(api, "m0", "m1")
    seg = await segment(api, "S", memberIds=["m0"])
    # when a file of m1 and two new members is imported with segmentId (ADD by default)
    done = await import_file(api, "id\nm1\nn1\nn2\n", "CSV", segment_id=seg["id"])
    # then they are added, as IMPORT listings, and m0 keeps its listing
    assert done["status"] == "SUCCEEDED"
    assert (done["addedToSegment"], done["removedFromSegment"]) == (3, 0)
    assert done["segmentId"] == seg["id"]
    assert await listed(api, seg["id"]) == {
        "m0": "MANUAL",
        "m1": "IMPORT",
        "n1": "IMPORT",
        "n2": "IMPORT",
    }
    # and the change is in the audit trail under the importing key's name
    added = [e for e in await events(api, seg["id"]) if e["kind"] == "MEMBERS_ADDED"]
    assert added[0]["count"] == 3
    assert added[0]["sampleIds"] == ["m1", "n1", "n2"]
    assert added[0]["actor"] == "test-admin"


async def test_import_with_override_makes_the_listed_members_exactly_the_file(api: Api) -> None:
    await members(api, "a", "b", "c")
    seg = await segment(api, "S", memberIds=["a", "b"])
    done = await import_file(
        api,
        '{"id": "b"}\n{"id": "c"}\n{"id": "d"}\n',
        "JSONL",
        segment_id=seg["id"],
        mode="OVERRIDE",
    )
    assert done["status"] == "SUCCEEDED"
    assert (done["addedToSegment"], done["removedFromSegment"]) == (2, 1)
    assert await listed(api, seg["id"]) == {"b": "MANUAL", "c": "IMPORT", "d": "IMPORT"}
    latest = (await events(api, seg["id"]))[:2]  # newest first: the import's two events
    assert sorted((e["kind"], e["count"], e["sampleIds"]) for e in latest) == [
        ("MEMBERS_ADDED", 2, ["c", "d"]),
        ("MEMBERS_REMOVED", 1, ["a"]),
    ]


async def test_bad_rows_are_not_listed_in_the_segment(api: Api) -> None:
    seg = await segment(api, "S")
    done = await import_file(api, "id,email\nok,\nbad,nope\n", "CSV", segment_id=seg["id"])
    assert done["addedToSegment"] == 1
    assert await listed(api, seg["id"]) == {"ok": "IMPORT"}


async def test_a_file_broken_half_way_leaves_the_segment_as_it_was(api: Api) -> None:
    # given a segment listing a and b, and a JSON file whose second half is broken
    await members(api, "a", "b")
    seg = await segment(api, "S", memberIds=["a", "b"])
    content = '[{"id": "x"}, {"id": "y"},\n {"id": "z" oops}]'
    # when it is imported with OVERRIDE, in batches of one row
    settings = get_settings().model_copy(update={"import_batch_rows": 1})
    payload = await upload(api, content, "JSON", segment_id=seg["id"], mode="OVERRIDE")
    await run_jobs(settings)
    done = await job(api, payload["job"]["id"])
    # then the job FAILED at the broken line and the segment is untouched
    assert done is not None and done["status"] == "FAILED"
    assert "line 2: invalid JSON" in done["error"]
    assert await listed(api, seg["id"]) == {"a": "MANUAL", "b": "MANUAL"}
    assert len(await events(api, seg["id"])) == 2  # CREATED and MEMBERS_ADDED, both of S's creation
    # (the members read before the break were upserted: a member import is not one transaction)
    assert done["created"] == 2


async def test_the_segment_change_is_one_transaction(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a segment listing a and b, and an audit that fails after the change was made
    await members(api, "a", "b", "c")
    seg = await segment(api, "S", memberIds=["a", "b"])

    async def failing_audit(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the audit trail is down")

    monkeypatch.setattr(audit_module, "members_added", failing_audit)
    monkeypatch.setattr(audit_module, "members_removed", failing_audit)
    # when an OVERRIDE import gets to its end
    payload = await upload(api, "id\nc\n", "CSV", segment_id=seg["id"], mode="OVERRIDE")
    await run_jobs()
    # then nothing of the change is kept, and the job stays RUNNING for another take
    assert await listed(api, seg["id"]) == {"a": "MANUAL", "b": "MANUAL"}
    row = await ImportJob.get(id=int(payload["job"]["id"]))
    assert row.status is JobStatus.RUNNING and row.owner is None
    # and once the fault is gone, a later take finishes it
    monkeypatch.undo()
    await ImportJob.filter(id=row.id).update(heartbeat_at=None)
    await run_jobs()
    done = await job(api, payload["job"]["id"])
    assert done is not None and done["status"] == "SUCCEEDED"
    assert await listed(api, seg["id"]) == {"c": "IMPORT"}


async def test_a_file_of_nothing_but_bad_rows_fails_and_leaves_the_segment(api: Api) -> None:
    # given a segment listing m1, and a file whose every row is bad (a wrong column, say)
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    content = "id,email\nu1,Ann\nu2,Bob\n"
    # when it is imported with OVERRIDE
    done = await import_file(api, content, "CSV", segment_id=seg["id"], mode="OVERRIDE")
    # then the job FAILED instead of emptying the segment, each row's problem reported
    assert done["status"] == "FAILED"
    assert "none of the 2 rows could be imported" in done["error"]
    assert [p["line"] for p in done["problems"]] == [2, 3, 0]
    assert await listed(api, seg["id"]) == {"m1": "MANUAL"}


async def test_a_file_with_a_header_alone_overrides_the_segment_to_nobody(api: Api) -> None:
    # (as updateSegmentMembers with no ids does: the file lists nobody)
    await members(api, "m1")
    seg = await segment(api, "S", memberIds=["m1"])
    done = await import_file(api, "id,email\n", "CSV", segment_id=seg["id"], mode="OVERRIDE")
    assert (done["status"], done["rowsRead"], done["removedFromSegment"]) == ("SUCCEEDED", 0, 1)
    assert await listed(api, seg["id"]) == {}


async def test_a_segment_deleted_before_the_end_fails_the_job(api: Api) -> None:
    seg = await segment(api, "S")
    payload = await upload(api, "id\nu1\n", "CSV", segment_id=seg["id"])
    await api.query(
        "mutation($id: ID!) { deleteSegment(id: $id) { deletedId } }", {"id": seg["id"]}
    )
    await run_jobs()
    done = await job(api, payload["job"]["id"])
    assert done is not None and done["status"] == "FAILED"
    assert "segment was deleted" in done["error"]


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("extra", "code", "field"),
    [
        ({"segment_id": "999999"}, "NOT_FOUND", ["input", "segmentId"]),
        ({"segment_id": "not-an-id"}, "NOT_FOUND", ["input", "segmentId"]),
        ({"mode": "DELETE"}, "INVALID", ["input", "mode"]),
    ],
    ids=["unknown-segment", "bad-segment-id", "delete-mode"],
)
async def test_bad_input_is_a_user_error_and_stores_nothing(
    api: Api, extra: dict[str, Any], code: str, field: list[str]
) -> None:
    payload = await upload(api, "id\nu1\n", "CSV", **extra)
    assert payload["job"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, field)]
    assert await ImportJob.all().count() == 0
    assert stored_files() == []


async def test_a_reader_cannot_import(api: Api) -> None:
    reader = await api.with_role(Role.READER)
    response = await reader.client.post(
        "/graphql",
        headers={"Authorization": f"Bearer {reader.key}"},
        **multipart("id\nu1\n", "CSV"),
    )
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await ImportJob.all().count() == 0
    assert stored_files() == []


async def test_another_sites_jobs_and_segments_are_out_of_reach(api: Api, other_api: Api) -> None:
    # given a segment and an import of the first site
    seg = await segment(api, "S")
    done = await import_file(api, "id\nu1\n", "CSV", segment_id=seg["id"])
    # then the other site cannot see the job, nor import into that segment
    assert await job(other_api, done["id"]) is None
    refused = await upload(other_api, "id\nu2\n", "CSV", segment_id=seg["id"])
    assert refused["userErrors"][0]["code"] == "NOT_FOUND"
    # and the imported members are the first site's alone
    assert await member_ids(api) == ["u1"]
    assert await member_ids(other_api) == []


async def test_an_unknown_job_id_is_null(api: Api) -> None:
    assert await job(api, "123456789") is None
    assert await job(api, "nope") is None


# --------------------------------------------------------------------------- progress


async def test_progress_is_saved_and_published_after_every_batch(api: Api) -> None:
    # given a listener on job progress and batches of two rows
    seen: list[tuple[str, int, int, int]] = []

    async def listener(j: ImportJob) -> None:
        row = await ImportJob.get(id=j.id)  # what importJob would show now
        seen.append((j.status.value, j.rows_read, row.rows_read, row.byte_offset))

    worker_module.progress_listeners.append(listener)
    try:
        settings = get_settings().model_copy(update={"import_batch_rows": 2})
        payload = await upload(api, "id\n" + "".join(f"u{i}\n" for i in range(5)), "CSV")
        await run_jobs(settings)
    finally:
        worker_module.progress_listeners.remove(listener)
    # then each publication saw the row already saved, rising batch by batch, then SUCCEEDED
    assert [(s, n) for s, n, _, _ in seen] == [
        ("RUNNING", 0),
        ("RUNNING", 2),
        ("RUNNING", 4),
        ("RUNNING", 5),
        ("SUCCEEDED", 5),
    ]
    assert all(published == saved for _, published, saved, _ in seen)
    offsets = [o for _, _, _, o in seen]
    assert offsets == sorted(offsets) and offsets[-1] > offsets[1] > 0
    assert (await job(api, payload["job"]["id"]) or {})["status"] == "SUCCEEDED"


async def test_the_running_worker_picks_up_a_new_job_at_once(api: Api) -> None:
    # given the server's worker running (in tests it is not started by the app)
    worker = ImportWorker(get_settings())
    worker.start()
    try:
        # when a file is uploaded
        payload = await upload(api, "id\nu1\nu2\n", "CSV")
        # then the worker runs it without being asked
        status = None
        for _ in range(100):
            found = await job(api, payload["job"]["id"])
            status = found["status"] if found else None
            if status == "SUCCEEDED":
                break
            await asyncio.sleep(0.05)
        assert status == "SUCCEEDED"
    finally:
        await worker.stop()
    assert await member_ids(api) == ["u1", "u2"]


async def test_import_job_is_readable_by_a_reader(api: Api) -> None:
    done = await import_file(api, "id\nu1\n", "CSV")
    reader = await api.with_role(Role.READER)
    found = await reader.query(JOB, {"id": done["id"]})
    assert found["importJob"]["status"] == "SUCCEEDED"


async def test_a_running_job_reports_at_least_once_a_second_during_a_long_step(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a heartbeat of 50 ms (instead of a second) and a segment change that takes 600 ms
    monkeypatch.setattr(worker_module, "HEARTBEAT_SECONDS", 0.05)
    change = bulk_module.change_members

    async def slow_change(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.6)
        return await change(*args, **kwargs)

    monkeypatch.setattr(bulk_module, "change_members", slow_change)
    heartbeat = worker_module.service.heartbeat
    beats = 0

    async def counted_heartbeat(j: ImportJob) -> bool:
        nonlocal beats
        beats += 1
        return await heartbeat(j)

    monkeypatch.setattr(worker_module.service, "heartbeat", counted_heartbeat)
    seg = await segment(api, "S")
    payload = await upload(api, "id\nu1\n", "CSV", segment_id=seg["id"])
    seen: list[str] = []

    async def listener(j: ImportJob) -> None:
        seen.append(j.status.value)

    # when the job runs
    worker_module.progress_listeners.append(listener)
    try:
        await run_jobs()
    finally:
        worker_module.progress_listeners.remove(listener)
    # then it was published again and again while RUNNING, then once as SUCCEEDED
    assert seen.count("RUNNING") >= 2 + 5  # start, the batch, and the beats of the slow step
    assert seen[-1] == "SUCCEEDED"
    # and the row was told the job is alive as often (on SQLite the first such write waits
    # for the segment change's transaction, and no other is queued behind it)
    assert beats >= (5 if is_postgres() else 1)
    assert (await job(api, payload["job"]["id"]) or {})["status"] == "SUCCEEDED"


async def test_a_job_whose_file_is_not_in_this_process_s_import_dir_names_the_cause(
    api: Api, tmp_path: Path
) -> None:
    # given a job uploaded to one process's IMPORT_DIR
    payload = await upload(api, CSV, "CSV")
    assert payload["userErrors"] == []

    # when a process whose IMPORT_DIR is elsewhere takes it
    elsewhere = tmp_path / "other-imports"
    settings = get_settings().model_copy(update={"import_dir": str(elsewhere)})
    assert await run_jobs(settings) == 1

    # then it fails (not left waiting) saying the file is not in that IMPORT_DIR, which
    # every process must share
    done = await job(api, payload["job"]["id"])
    assert done is not None and done["status"] == "FAILED"
    assert "is not in this process's IMPORT_DIR" in done["error"]
    assert str(elsewhere.resolve()) in done["error"]
    assert "must share IMPORT_DIR" in done["error"]
    # (the file stays where it was uploaded, out of that process's reach: removed here)
    for stored in stored_files():
        stored.unlink()
