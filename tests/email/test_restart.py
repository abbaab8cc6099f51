"""A server stopped mid-campaign resumes at start-up: nothing lost, nothing sent twice.
Messages received are counted per recipient by the SMTP server itself."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from starlette.applications import Starlette

from app.email.queue import ABANDONED
from app.main import create_app
from tests.email.conftest import MailServer, finished, mail_settings, sent_campaign, until
from tests.factories import Api, members, segment

RECIPIENTS = 20


@contextlib.asynccontextmanager
async def _server(api: Api, **settings: Any) -> AsyncIterator[tuple[Starlette, Api]]:
    """An app with its worker, as a server process would run it."""
    application = create_app(mail_settings(**settings), init_orm=False)
    async with LifespanManager(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield application, Api(client, api.site, api.key, api.role)


async def _audience(api: Api) -> str:
    ids = [f"u{i:02}" for i in range(RECIPIENTS)]
    for i in ids:
        await members(api, i, email=f"{i}@example.com")
    seg: dict[str, Any] = await segment(api, "Everyone", memberIds=ids)
    segment_id: str = seg["id"]
    return segment_id


def _everyone_once(smtp: MailServer) -> dict[str, int]:
    return {f"u{i:02}@example.com": 1 for i in range(RECIPIENTS)}


async def test_a_stopped_server_resumes_at_start_and_sends_the_rest_once(
    api: Api, smtp: MailServer
) -> None:
    # given a campaign under way, sent at 100 a second
    seg = await _audience(api)
    async with _server(api, smtp_url=smtp.url, email_rate_limit=100) as (_, mail):
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        await until(lambda: len(smtp.received) >= 5, what="five messages")
        # when the server shuts down mid-campaign (the message in hand is finished first)
    stopped_at = len(smtp.received)
    assert stopped_at < RECIPIENTS
    # and starts again
    async with _server(api, smtp_url=smtp.url) as (_, mail):
        result = await finished(mail, made["id"])
    # then everyone has exactly one message and every delivery is SENT
    assert smtp.count_by_recipient() == _everyone_once(smtp)
    assert (result["status"], result["sent"], result["failed"]) == ("SUCCEEDED", RECIPIENTS, 0)


async def test_a_worker_killed_while_the_server_accepts_a_message_never_sends_it_twice(
    api: Api, smtp: MailServer
) -> None:
    # given a server that holds its reply to the 8th message until the test says so
    seg = await _audience(api)
    loop = asyncio.get_running_loop()
    eighth, reply = asyncio.Event(), threading.Event()
    seen: list[str] = []

    def on_data(address: str) -> None:
        seen.append(address)
        if len(seen) == 8:
            loop.call_soon_threadsafe(eighth.set)
            reply.wait(10)

    smtp.on_data = on_data
    settings = {"smtp_url": smtp.url, "email_claim_timeout_seconds": 1.0, "smtp_timeout": 0.1}
    async with _server(api, **settings) as (app, mail):
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        await asyncio.wait_for(eighth.wait(), 10)
        # when the worker dies right there, as a killed process would (no code of ours runs),
        # and the server then accepts the message it was sent: mailed, but never marked
        await app.state.email_worker.abort()
        reply.set()
        await until(lambda: len(smtp.received) == 8, what="the 8th message to be accepted")
    # and the server starts again
    async with _server(api, **settings) as (_, mail):
        result = await finished(mail, made["id"])
    # then every member has exactly one message: nothing lost, nothing twice
    assert smtp.count_by_recipient() == _everyone_once(smtp)
    # and the one delivery whose outcome the dead worker never recorded is not retried:
    # it is FAILED with the reason, the one at-most-once window (one message per worker)
    failed = [e["node"] for e in result["deliveries"]["edges"] if e["node"]["status"] == "FAILED"]
    assert [(f["email"], f["attempts"], f["error"]) for f in failed] == [(seen[7], 1, ABANDONED)]
    assert (result["status"], result["sent"], result["failed"]) == (
        "SUCCEEDED",
        RECIPIENTS - 1,
        1,
    )
