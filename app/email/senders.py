"""What every sender shares (the worker picks one: SMTP when SMTP_URL is set, else .eml files
in a folder; see make_sender in app.email.worker).

A sender answers each message with an Outcome, or raises Unavailable when it cannot even
begin (the server is down): then nothing was sent, and the worker waits and tries again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol


class Result(enum.Enum):
    SENT = "SENT"
    RETRY = "RETRY"  # a temporary failure (4xx, a dropped connection before DATA): try later
    FAILED = "FAILED"  # a permanent failure (5xx, an address no server takes)
    UNKNOWN = "UNKNOWN"  # the message went out but no answer came: never sent again


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str  # the server's reply, or what went wrong


class Unavailable(Exception):
    """The sender cannot begin (connection refused, timed out, TLS or login refused)."""


class Sender(Protocol):
    async def open(self) -> None:
        """Be ready to send (connect, TLS, login) or raise Unavailable."""

    async def send(self, *, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        """Send one message; name is a stable name for it (campaign and delivery)."""

    async def close(self) -> None:
        """Let go of any connection; the next open() makes a new one."""
