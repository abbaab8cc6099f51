"""Browser frontends: CORS for the configured origins, compression, and GraphiQL whole from
the service (every asset it names answers 200), run in a real headless Chromium (driven over
the DevTools protocol): the API key stays out of localStorage, and a subscription refused
for its key ends at once saying why. Chromium is required, not
optional: CI installs it (.ci/run)."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import TEST_DATABASE_URL
from tests.factories import Api, members, segment
from tests.http.conftest import AppWith
from tests.processes import Server, free_port, stop

ORIGIN = "https://admin.example.com"
UPDATE_DESCRIPTION = """
mutation($id: ID!, $text: String) {
  updateSegment(id: $id, input: {description: $text}) { userErrors { code } }
}
"""


async def test_a_preflight_from_an_allowed_origin_is_answered(app_with: AppWith) -> None:
    async with app_with(cors_origins=f"{ORIGIN}, https://other.example.com") as api:
        response = await api.client.options(
            "/graphql",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "authorization" in response.headers["access-control-allow-headers"].lower()

        # and the actual request's answer is readable by that origin
        answer = await api.client.post(
            "/graphql",
            json={"query": "{ viewer { role } }"},
            headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"},
        )
        assert answer.headers["access-control-allow-origin"] == ORIGIN


async def test_a_preflight_from_another_origin_is_refused(app_with: AppWith) -> None:
    async with app_with(cors_origins=ORIGIN) as api:
        response = await api.client.options(
            "/graphql",
            headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
        )
        assert response.status_code == 400
        assert "access-control-allow-origin" not in response.headers


async def test_no_cors_by_default(api: Api) -> None:
    response = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { role } }"},
        headers={"Origin": ORIGIN, "Authorization": f"Bearer {api.key}"},
    )
    assert "access-control-allow-origin" not in response.headers


async def test_large_answers_are_gzipped_small_ones_not(api: Api) -> None:
    from graphql import get_introspection_query

    big = await api.client.post(
        "/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    )
    assert big.headers["content-encoding"] == "gzip"  # the only one this client accepts
    assert big.json()["data"]["__schema"]
    assert int(big.headers["content-length"]) < len(big.content) / 3

    small = await api.client.post(
        "/graphql",
        json={"query": "{ viewer { role } }"},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    )
    assert "content-encoding" not in small.headers


async def test_brotli_when_the_client_prefers_it(api: Api) -> None:
    from graphql import get_introspection_query

    big = await api.client.post(
        "/graphql",
        json={"query": get_introspection_query()},
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "br"},
    )
    assert big.headers["content-encoding"] == "br"
    assert big.json()["data"]["__schema"]


async def test_a_csv_export_streams_compressed(api: Api) -> None:
    ids = [f"m{i:04d}" for i in range(300)]
    await members(api, *ids)
    seg = await segment(api, "Big", memberIds=ids)
    async with api.client.stream(
        "GET",
        f"/export/segments/{seg['id']}/members.csv",
        headers={"Authorization": f"Bearer {api.key}", "Accept-Encoding": "gzip"},
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        raw = b"".join([chunk async for chunk in response.aiter_raw()])
    rows = gzip.decompress(raw).decode().splitlines()
    assert len(rows) == 301 and rows[1].startswith("m0000")


async def test_graphiql_names_only_assets_the_service_serves(api: Api) -> None:
    # when the page is opened in a browser
    page = await api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200

    # then every script and stylesheet it names is the service's own, and each answers 200
    urls = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert len(urls) == 8
    for url in urls:
        assert url.startswith("/graphiql/"), url
        asset = await api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 300
    assert "unpkg.com" not in page.text and "cdn" not in page.text.lower()


async def test_graphiql_keeps_no_key_unless_asked(api: Api) -> None:
    boot = (await api.client.get("/graphiql/segments-graphiql.js")).text
    assert "shouldPersistHeaders: persistHeaders" in boot
    assert 'searchParams.get("persistHeaders") === "true"' in boot
    # and subscriptions go over the WebSocket
    assert "graphqlWs.createClient" in boot


# --- GraphiQL in a headless Chromium -------------------------------------------------------


class Page:
    """One Chromium tab, driven over the DevTools protocol."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        call = next(self._ids)
        await self._ws.send(json.dumps({"id": call, "method": method, "params": params}))
        while True:
            answer = json.loads(await asyncio.wait_for(self._ws.recv(), 60))
            if answer.get("id") == call:
                assert "error" not in answer, answer
                result: dict[str, Any] = answer["result"]
                return result

    async def run(self, script: str) -> Any:
        """The value of an async script run in the page; a script that throws fails."""
        answer = await self.send(
            "Runtime.evaluate",
            expression=f"(async () => {{ {script} }})()",
            awaitPromise=True,
            returnByValue=True,
        )
        assert "exceptionDetails" not in answer, answer["exceptionDetails"]
        return answer["result"].get("value")

    async def open(self, url: str) -> None:
        await self.send("Page.navigate", url=url)
        await self.run(_WAIT + "await until(() => document.querySelector('.graphiql-editor'));")


@asynccontextmanager
async def _chromium() -> AsyncIterator[Page]:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "Chromium is needed for GraphiQL's tests (apt-get install chromium)"
    port = free_port()
    # the profile's files may outlive the browser by a moment (its helpers write on): a
    # folder left in /tmp is not the test's failure
    with tempfile.TemporaryDirectory(
        prefix="segments-chromium-", ignore_cleanup_errors=True
    ) as profile:
        process = _launch(binary, profile, port)
        try:
            target = await _page_target(port, process)
            async with connect(target, max_size=None) as ws:
                yield Page(ws)
        finally:
            stop(process)
            # and its helper processes (renderer, crashpad...), in its own process group
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


def _launch(binary: str, profile: str, port: int) -> subprocess.Popen[bytes]:
    flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    where = [f"--user-data-dir={profile}", f"--remote-debugging-port={port}", "about:blank"]
    return subprocess.Popen(
        [binary, *flags, *where],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def _page_target(port: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while True:
            assert process.poll() is None, "Chromium exited"
            try:
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t["type"] == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "Chromium did not start"
            await asyncio.sleep(0.1)


# helpers of the scripts run in the page: wait for a condition (a bound, not a pause), and
# GraphiQL's editors (CodeMirror 5 keeps each editor on its element)
_WAIT = """
const until = async (found, what = "the page", seconds = 30) => {
  const end = Date.now() + seconds * 1000;
  for (;;) {
    const value = found();
    if (value) return value;
    if (Date.now() > end) throw new Error("waited in vain for " + what);
    await new Promise((done) => setTimeout(done, 50));
  }
};
const editor = (selector) => document.querySelector(selector + " .CodeMirror").CodeMirror;
"""


def _run_in_graphiql(query: str, headers: dict[str, str], wait_for: str) -> str:
    """A script that types the query and headers into GraphiQL, runs it and returns the
    response pane's text once it holds ``wait_for``."""
    return (
        _WAIT
        + f"""
const tools = document.querySelectorAll(".graphiql-editor-tool .graphiql-editor");
tools[1].querySelector(".CodeMirror").CodeMirror.setValue({json.dumps(json.dumps(headers))});
editor(".graphiql-query-editor").setValue({json.dumps(query)});
document.querySelector(".graphiql-execute-button").click();
return await until(() => {{
  const text = editor(".graphiql-response").getValue();
  return text.includes({json.dumps(wait_for)}) ? text : null;
}}, "the response", 20);
"""
    )


_STORED = (
    _WAIT
    + """
await until(() => (localStorage.getItem("graphiql:queries") || "").includes("viewer")
  && (localStorage.getItem("graphiql:tabState") || "").includes("viewer"), "the history");
return JSON.stringify(Object.fromEntries(Object.entries(localStorage)));
"""
)


@pytest.fixture
async def graphiql_server(api: Api) -> AsyncIterator[Server]:
    server = Server(TEST_DATABASE_URL, IMPORT_WORKER="false", EMAIL_WORKER="false")
    try:
        await server.ready()
        yield server
    finally:
        server.stop()


async def test_graphiql_in_a_browser_keeps_the_key_out_of_local_storage(
    api: Api, graphiql_server: Server
) -> None:
    async with _chromium() as page:
        # given GraphiQL opened plainly, and a query run with the key in the Headers tab
        await page.open(f"{graphiql_server.url}/graphql")
        headers = {"Authorization": f"Bearer {api.key}"}
        answer = await page.run(_run_in_graphiql("{ viewer { role } }", headers, '"role"'))
        assert '"ADMIN"' in answer  # the key was sent

        # then nothing GraphiQL saved (history, tabs) holds the key
        stored = await page.run(_STORED)
        assert "graphiql:queries" in stored
        assert api.key not in stored and "Authorization" not in stored

        # but opened with ?persistHeaders=true, it is kept, as asked
        await page.open(f"{graphiql_server.url}/graphql?persistHeaders=true")
        await page.run(_run_in_graphiql("{ viewer { role siteName } }", headers, '"siteName"'))
        assert api.key in await page.run(_STORED)


async def test_graphiql_in_a_browser_ends_a_refused_subscription_saying_why(
    api: Api, graphiql_server: Server
) -> None:
    async with _chromium() as page:
        # given GraphiQL with a key that is not one
        await page.open(f"{graphiql_server.url}/graphql")
        headers = {"Authorization": "Bearer seg_not-a-key"}

        # when a subscription is run, then the refusal shows at once (the client does not
        # try again) as the close's code and reason
        answer = await page.run(
            _run_in_graphiql("subscription { segmentEvents { id } }", headers, "4403")
        )
        assert json.loads(answer) == {"errors": [{"message": "4403: Invalid or revoked API key"}]}


async def test_graphiql_in_a_browser_streams_a_subscription_with_the_headers_key(
    api: Api, graphiql_server: Server
) -> None:
    # given a segment, and GraphiQL with the key in the Headers tab
    vip = await segment(api, "VIP")
    subscription = f'subscription {{ segmentEvents(segmentId: "{vip["id"]}") {{ kind }} }}'
    headers = {"Authorization": f"Bearer {api.key}"}
    async with _chromium() as page, httpx.AsyncClient(timeout=30) as client:
        await page.open(f"{graphiql_server.url}/graphql")

        # when the subscription is run there and the segment changes (through the server:
        # on SQLite its live events are its own), until the response pane shows an event
        watching = asyncio.ensure_future(
            page.run(_run_in_graphiql(subscription, headers, "UPDATED"))
        )
        for n in itertools.count():
            if watching.done():
                break
            await client.post(
                f"{graphiql_server.url}/graphql",
                json={"query": UPDATE_DESCRIPTION, "variables": {"id": vip["id"], "text": str(n)}},
                headers=headers,
            )
            await asyncio.wait({watching}, timeout=0.5)

        # then GraphiQL shows the event the WebSocket brought (signed in with that key)
        assert json.loads(await watching)["data"] == {"segmentEvents": {"kind": "UPDATED"}}
