"""A real SMTP server (aiosmtpd, on a thread of this process) and apps with a running email
worker, each with the mail settings its test needs."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.settings import Settings
from tests.factories import Api, served
from tests.processes import free_port

CAMPAIGN = """
query($id: ID!) {
  emailCampaign(id: $id) {
    id status recipients sent failed optedOut withoutEmail startedAt finishedAt
    deliveries(first: 500) { edges { node { memberId email status attempts error sentAt } } }
  }
}
"""

SEND = """
mutation($input: SendSegmentEmailInput!) {
  sendSegmentEmail(input: $input) {
    campaign { id status recipients sent failed optedOut withoutEmail segment { id } }
    userErrors { field message code }
  }
}
"""


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    at: float

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = message_from_bytes(self.content, policy=policy.default)  # type: ignore[assignment]
        return parsed


@dataclass
class MailServer:
    """What the SMTP server was sent. replies[address] are answered, one per attempt, at the
    end of DATA before the default 250; on_data(address) runs first, on the server's thread."""

    port: int
    received: list[Received] = field(default_factory=list)
    replies: dict[str, deque[str]] = field(default_factory=dict)
    on_data: Callable[[str], None] | None = None
    attempts: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    sessions: list[tuple[str | None, bool]] = field(default_factory=list)  # (login, over TLS)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        address = envelope.rcpt_tos[0]
        if self.on_data is not None:
            self.on_data(address)
        with self.lock:
            login = session.auth_data.decode() if session.authenticated else None
            tls = session.ssl is not None or server.transport.get_extra_info("ssl_object")
            self.sessions.append((login, bool(tls)))
            self.attempts[address] += 1
            scripted = self.replies.get(address)
            if scripted:
                return scripted.popleft()
            self.received.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), envelope.content, time.monotonic()
                )
            )
        return "250 2.0.0 OK queued"

    def count_by_recipient(self) -> Counter[str]:
        with self.lock:
            return Counter(a for r in self.received for a in r.rcpt_tos)

    def to(self, address: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if address in r.rcpt_tos]


@contextlib.contextmanager
def smtp_controller(server: MailServer, **kwargs: Any) -> Iterator[Controller]:
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **kwargs)
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def smtp() -> Iterator[MailServer]:
    """A running SMTP server that accepts everything unless told otherwise."""
    server = MailServer(port=free_port())
    with smtp_controller(server):
        yield server


@pytest.fixture(scope="session")
def server_tls(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A TLS context for the SMTP server, with a self-signed certificate made for the run."""
    folder: Path = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


def mail_settings(**overrides: Any) -> Settings:
    """Settings for a test app: a worker with tiny waits, so that tests stay fast."""
    values: dict[str, Any] = {
        "email_worker": True,
        "email_rate_limit": 0,
        "email_retry_base_seconds": 0.05,
        "email_retry_max_seconds": 0.2,
        "email_poll_seconds": 0.05,
        "smtp_timeout": 2.0,
        "email_claim_timeout_seconds": 20.0,
    }
    values.update(overrides)
    return Settings(**values)


MailApp = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


@pytest.fixture
def mail_app(api: Api) -> MailApp:
    """mail_app(**settings) runs an app (with its email worker) for the api fixture's site."""

    @contextlib.asynccontextmanager
    async def serving(**overrides: Any) -> AsyncIterator[Api]:
        async with served(api, mail_settings(**overrides)) as served_api:
            yield served_api

    return serving


async def until(check: Callable[[], Any], *, within: float = 10.0, what: str = "") -> Any:
    """Poll check() (sync or async) until it returns something truthy; fail after `within` s."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within} s waiting for {what or check}")
        await asyncio.sleep(0.02)


async def campaign(api: Api, campaign_id: str) -> dict[str, Any]:
    data = await api.query(CAMPAIGN, {"id": campaign_id})
    result: dict[str, Any] = data["emailCampaign"]
    return result


async def finished(api: Api, campaign_id: str, within: float = 10.0) -> dict[str, Any]:
    """The campaign once the worker has settled every delivery."""

    async def done() -> dict[str, Any] | None:
        c = await campaign(api, campaign_id)
        return c if c["status"] in ("SUCCEEDED", "FAILED") else None

    result: dict[str, Any] = await until(done, within=within, what="the campaign to finish")
    return result


async def send(api: Api, **input: Any) -> dict[str, Any]:
    """sendSegmentEmail; returns the payload (campaign and userErrors)."""
    data = await api.query(SEND, {"input": input})
    payload: dict[str, Any] = data["sendSegmentEmail"]
    return payload


async def sent_campaign(api: Api, **input: Any) -> dict[str, Any]:
    payload = await send(api, **input)
    assert payload["userErrors"] == [], payload["userErrors"]
    result: dict[str, Any] = payload["campaign"]
    return result
