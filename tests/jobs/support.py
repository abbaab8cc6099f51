"""Uploading import files over GraphQL multipart, and running the jobs they make."""

from __future__ import annotations

from typing import Any

import orjson

from app.jobs.worker import ImportWorker
from app.settings import Settings, get_settings
from tests.factories import Api

IMPORT = """
mutation($input: ImportMembersInput!) {
  importMembers(input: $input) {
    job { id status rowsRead progress fileName format mode segmentId startedAt finishedAt }
    userErrors { field message code }
  }
}
"""

JOB = """
query($id: ID!) {
  importJob(id: $id) {
    id status rowsRead created updated addedToSegment removedFromSegment
    problems { line message } problemCount error progress
    segmentId mode format fileName createdAt startedAt finishedAt
  }
}
"""


def multipart(
    content: bytes | str,
    fmt: str,
    *,
    segment_id: str | None = None,
    mode: str | None = None,
    filename: str = "members.csv",
) -> dict[str, Any]:
    """The httpx arguments of an importMembers request (GraphQL multipart request spec)."""
    variables: dict[str, Any] = {"file": None, "format": fmt}
    if segment_id is not None:
        variables["segmentId"] = segment_id
    if mode is not None:
        variables["mode"] = mode
    operations = {"query": IMPORT, "variables": {"input": variables}}
    body = content.encode() if isinstance(content, str) else content
    return {
        "data": {
            "operations": orjson.dumps(operations).decode(),
            "map": orjson.dumps({"0": ["variables.input.file"]}).decode(),
        },
        "files": {"0": (filename, body, "application/octet-stream")},
    }


async def upload(api: Api, content: bytes | str, fmt: str, **kwargs: Any) -> dict[str, Any]:
    """The importMembers payload."""
    response = await api.client.post(
        "/graphql",
        headers={"Authorization": f"Bearer {api.key}"},
        **multipart(content, fmt, **kwargs),
    )
    body = response.json()
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["importMembers"]
    return payload


async def job(api: Api, job_id: str) -> dict[str, Any] | None:
    data = await api.query(JOB, {"id": job_id})
    result: dict[str, Any] | None = data["importJob"]
    return result


async def run_jobs(settings: Settings | None = None, owner: str = "test-worker") -> int:
    """Run every waiting job to its end, as the server's worker would; returns how many."""
    worker = ImportWorker(settings or get_settings(), owner=owner)
    n = 0
    while await worker.run_once() is not None:
        n += 1
    return n


async def import_file(api: Api, content: bytes | str, fmt: str, **kwargs: Any) -> dict[str, Any]:
    """Upload a file, run its job, and return the job as importJob shows it."""
    payload = await upload(api, content, fmt, **kwargs)
    assert payload["userErrors"] == [], payload["userErrors"]
    assert await run_jobs() == 1
    result = await job(api, payload["job"]["id"])
    assert result is not None
    return result
