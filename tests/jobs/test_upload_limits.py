"""Uploads have their own size limit (MAX_UPLOAD_BYTES), checked before anything is stored:
up front when the body declares its length, while it streams when it does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from app.jobs.models import ImportJob
from app.main import create_app
from app.settings import get_settings
from tests.factories import Api
from tests.jobs.support import multipart

UPLOAD_LIMIT = 4096
REQUEST_LIMIT = 1024


@pytest.fixture
async def small(api: Api, tmp_path: Path) -> AsyncIterator[tuple[Api, Path]]:
    """A server with small limits (and its own import folder), and a key of the api's site."""
    imports = tmp_path / "imports"
    settings = get_settings().model_copy(
        update={
            "max_upload_bytes": UPLOAD_LIMIT,
            "max_request_bytes": REQUEST_LIMIT,
            "import_dir": str(imports),
        }
    )
    app = create_app(settings, init_orm=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield Api(client, api.site, api.key, api.role), imports


def csv_of(size: int) -> bytes:
    rows = b"".join(f"member-{i:06d}\n".encode() for i in range(size // 14 + 1))
    return (b"id\n" + rows)[:size].rsplit(b"\n", 1)[0] + b"\n"


def stored(imports: Path) -> list[Path]:
    return sorted(imports.iterdir()) if imports.exists() else []


async def chunked(api: Api, content: bytes, **headers: str) -> httpx.Response:
    """An upload sent without a Content-Length, in 512-byte chunks."""
    built = api.client.build_request("POST", "/graphql", **multipart(content, "CSV"))
    body = built.read()

    async def stream() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 512):
            yield body[start : start + 512]

    return await api.client.post(
        "/graphql",
        content=stream(),
        headers={
            "Content-Type": built.headers["Content-Type"],
            "Authorization": f"Bearer {api.key}",
            **headers,
        },
    )


async def sized(api: Api, content: bytes) -> httpx.Response:
    return await api.client.post(
        "/graphql", headers={"Authorization": f"Bearer {api.key}"}, **multipart(content, "CSV")
    )


def refused(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 413
    error: dict[str, Any] = response.json()["errors"][0]
    assert error["extensions"]["code"] == "TOO_LARGE"
    assert f"limit of {UPLOAD_LIMIT} bytes" in error["message"]
    return error


async def test_an_upload_declared_over_the_limit_is_refused_before_it_is_read(
    small: tuple[Api, Path],
) -> None:
    api, imports = small
    error = refused(await sized(api, csv_of(UPLOAD_LIMIT + 100)))
    assert error["message"].startswith("Upload of ")
    assert await ImportJob.all().count() == 0
    assert stored(imports) == []


async def test_a_chunked_upload_is_stopped_when_it_passes_the_limit(
    small: tuple[Api, Path],
) -> None:
    api, imports = small
    error = refused(await chunked(api, csv_of(UPLOAD_LIMIT * 3)))
    assert error["message"].startswith("Upload is over")  # found while reading, not declared
    assert await ImportJob.all().count() == 0
    assert stored(imports) == []


@pytest.mark.parametrize("send", [sized, chunked], ids=["sized", "chunked"])
async def test_an_upload_under_the_limit_is_stored_whole(
    small: tuple[Api, Path], send: Any
) -> None:
    # given a file bigger than the request limit but under the upload limit
    api, imports = small
    content = csv_of(UPLOAD_LIMIT - 1000)
    assert len(content) > REQUEST_LIMIT
    # when it is uploaded
    response = await send(api, content)
    # then it is a job, its file stored byte for byte
    payload = response.json()["data"]["importMembers"]
    assert payload["userErrors"] == []
    (path,) = stored(imports)
    assert path.read_bytes() == content
    job = await ImportJob.get(id=int(payload["job"]["id"]))
    assert (job.file_size, job.stored_name) == (len(content), path.name)


async def test_other_requests_keep_the_request_limit(small: tuple[Api, Path]) -> None:
    api, _ = small
    query = "query($q: String!) { members(search: $q) { totalCount } }"
    body = orjson.dumps({"query": query, "variables": {"q": "x" * REQUEST_LIMIT}})
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert f"limit of {REQUEST_LIMIT} bytes" in response.json()["errors"][0]["message"]


async def test_an_upload_without_a_key_is_refused_unread(small: tuple[Api, Path]) -> None:
    api, imports = small
    response = await api.client.post("/graphql", **multipart(csv_of(100), "CSV"))
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert stored(imports) == []
