"""Sending through an SMTP server with aiosmtplib, one connection kept open between messages.

Each reply is sorted by what it says about the message: 2xx sent; 4xx (or a connection
lost before DATA) try again later; 5xx failed for good. A connection lost or timed out
*during* DATA is the one case with no answer: the server may have taken the message, so it
is never sent again (UNKNOWN), which is what keeps every delivery at most once.
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import asdict, dataclass
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.email.senders import Outcome, Result, Unavailable
from app.settings import Settings

_STARTTLS = {"auto": None, "always": True, "never": False}


@dataclass(frozen=True)
class SmtpConfig:
    """How to reach the server: aiosmtplib.SMTP's arguments of the same names."""

    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # TLS from the first byte (smtps://)
    start_tls: bool | None  # None: STARTTLS when the server offers it
    validate_certs: bool
    timeout: float


def parse_smtp_url(url: str, settings: Settings) -> SmtpConfig:
    """smtp://user:pass@host:port (STARTTLS per SMTP_STARTTLS) or smtps://... (TLS)."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("SMTP_URL must look like smtp://user:password@host:port or smtps://...")
    tls = parts.scheme == "smtps"
    return SmtpConfig(
        hostname=parts.hostname,
        port=parts.port or (465 if tls else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=tls,
        start_tls=False if tls else _STARTTLS[settings.smtp_starttls],
        validate_certs=settings.smtp_validate_certs,
        timeout=settings.smtp_timeout,
    )


def _reply(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}"


class SmtpSender:
    def __init__(self, config: SmtpConfig) -> None:
        self.config = config
        self._smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> None:
        if self._smtp is not None and self._smtp.is_connected:
            return
        c = self.config
        smtp = aiosmtplib.SMTP(**asdict(c), local_hostname=socket.gethostname())
        try:
            await smtp.connect()  # greeting, EHLO, STARTTLS and login as configured
        except aiosmtplib.SMTPResponseException as exc:
            smtp.close()
            raise Unavailable(f"{c.hostname}:{c.port} answered {_reply(exc)}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise Unavailable(f"{c.hostname}:{c.port}: {exc or type(exc).__name__}") from exc
        self._smtp = smtp

    async def send(self, *, sender: str, recipient: str, message: bytes, name: str) -> Outcome:
        reused = self._smtp is not None and self._smtp.is_connected
        await self.open()
        outcome = await self._transaction(sender, recipient, message)
        if outcome is None and reused:
            # the server had dropped the idle connection before MAIL: a new one, once
            await self.open()
            outcome = await self._transaction(sender, recipient, message)
        return outcome or Outcome(Result.RETRY, "MAIL: the connection was lost")

    async def _transaction(self, sender: str, recipient: str, message: bytes) -> Outcome | None:
        """One MAIL/RCPT/DATA exchange; None when the connection was lost before anything."""
        smtp = self._smtp
        assert smtp is not None
        stage = "MAIL"
        try:
            await smtp.mail(sender)
            stage = "RCPT"
            await smtp.rcpt(recipient)
            stage = "DATA"
            response = await smtp.data(message)
        except aiosmtplib.SMTPResponseException as exc:
            await self._reset()
            if 500 <= exc.code < 600:
                return Outcome(Result.FAILED, _reply(exc))
            return Outcome(Result.RETRY, _reply(exc))
        except (aiosmtplib.SMTPException, OSError) as exc:  # disconnected or timed out
            await self.close()
            problem = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if stage == "MAIL" and isinstance(exc, aiosmtplib.SMTPServerDisconnected):
                return None
            if stage == "DATA":
                return Outcome(
                    Result.UNKNOWN,
                    f"no reply after the message was sent ({problem});"
                    " not sent again, so that no one is mailed twice",
                )
            return Outcome(Result.RETRY, f"{stage}: {problem}")
        return Outcome(Result.SENT, f"{response.code} {response.message}")

    async def _reset(self) -> None:
        """Clear the envelope after a refusal, so that the connection serves the next one."""
        if self._smtp is None:
            return
        try:
            await self._smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            await self.close()

    async def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if smtp.is_connected:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit(timeout=min(self.config.timeout, 5.0))
        smtp.close()
