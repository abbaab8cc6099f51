"""Sending one delivery: the body, its Standard Webhooks signature, and a POST that connects
only to the addresses checked for it.

The signature is made by the ``standardwebhooks`` package (the reference implementation of
the Standard Webhooks specification): ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body" keyed with the secret's base64-decoded bytes>``. The POST goes through an
httpcore connection pool whose network backend connects to the resolved and checked addresses
instead of resolving the host again; the URL keeps its host name, so the Host header, TLS SNI
and certificate verification all still name it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import ssl
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpcore
import orjson
from standardwebhooks import Webhook as Signer

from app.db import utc
from app.webhooks.addresses import Target
from app.webhooks.queue import ChangeRow

EVENT_TYPE = "segment.membership.changed"
SECRET_PREFIX = "whsec_"
USER_AGENT = "Segments-Webhooks/1"
# of a failed answer's body, what the delivery's error keeps
ERROR_BODY_BYTES = 500


def new_secret() -> str:
    """A signing secret: ``whsec_`` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def body(changes: Sequence[ChangeRow]) -> bytes:
    """The JSON a delivery POSTs: each change with the fields (and forms) of the GraphQL
    MembershipChange: ids as the API gives them, memberId the member's external id."""
    return orjson.dumps(
        {
            "type": EVENT_TYPE,
            "data": {
                "changes": [
                    {
                        "id": str(c.id),
                        "segmentId": str(c.segment_id),
                        "memberId": c.member_ref,
                        "kind": c.kind,
                        "cause": c.cause,
                        "at": utc(c.at).isoformat(),
                    }
                    for c in changes
                ]
            },
        }
    )


def headers(*, secret: str, message_id: str, timestamp: datetime, content: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (timestamp: when it is sent)."""
    signature = Signer(secret).sign(
        msg_id=message_id, timestamp=utc(timestamp), data=content.decode("utf-8")
    )
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(utc(timestamp).timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


@dataclass(frozen=True)
class Answer:
    """What an attempt came to: the HTTP status (None when none came) and, unless it was a
    2xx, what went wrong."""

    status: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the checked addresses, in order, whatever host the connection names."""

    def __init__(self, addresses: Iterable[str]) -> None:
        self._addresses = tuple(addresses)
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception = httpcore.ConnectError("no address to connect to")
        for address in self._addresses:
            try:
                return await self._backend.connect_tcp(
                    address.split("%", 1)[0],
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109  # httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("webhooks are sent over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


_ssl_context: ssl.SSLContext | None = None


def _tls() -> ssl.SSLContext:
    global _ssl_context
    if _ssl_context is None:
        _ssl_context = ssl.create_default_context()
    return _ssl_context


async def post(target: Target, content: bytes, sent: dict[str, str], limit: float) -> Answer:
    """POST content to the checked target, within ``limit`` seconds in all; redirects are not
    followed (a 3xx is a failure: it could lead anywhere)."""
    pool = httpcore.AsyncConnectionPool(
        ssl_context=_tls(),
        network_backend=_PinnedBackend(target.addresses),
        max_connections=1,
        retries=0,
    )
    step = {"connect": limit, "read": limit, "write": limit, "pool": limit}
    try:
        async with (
            pool,
            asyncio.timeout(limit),
            pool.stream(
                "POST",
                target.url,
                headers=list(sent.items()),
                content=content,
                extensions={"timeout": step},
            ) as response,
        ):
            status = response.status
            if 200 <= status < 300:
                return Answer(status, None)
            kept = b""
            async for chunk in response.aiter_stream():
                kept += chunk
                if len(kept) >= ERROR_BODY_BYTES:
                    break
    except TimeoutError:
        return Answer(None, f"no answer within {limit:g} s")
    except httpcore.TimeoutException as exc:
        return Answer(None, f"timed out: {type(exc).__name__}")
    except (httpcore.NetworkError, httpcore.ProtocolError, ssl.SSLError, OSError) as exc:
        return Answer(None, f"{type(exc).__name__}: {exc}"[:ERROR_BODY_BYTES])
    text = kept[:ERROR_BODY_BYTES].decode("utf-8", "replace").strip()
    return Answer(status, f"HTTP {status}" + (f": {text}" if text else ""))
