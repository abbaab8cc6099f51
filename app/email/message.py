"""One recipient's message: the campaign's subject and bodies with the placeholders filled
in, as the bytes an SMTP server (or an .eml file) takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.charset import QP, Charset
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

from app.email.templating import render, render_header

_SMTP = policy.compat32.clone(linesep="\r\n")

# one address, nothing that could break out of a header or an SMTP command
_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+")


class BadAddress(ValueError):
    """The recipient's address cannot be sent to: no server would ever take it."""


@dataclass(frozen=True)
class Content:
    """What a campaign says, the same for every recipient before templating."""

    campaign_id: int
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class Recipient:
    delivery_id: int
    member_id: str
    email: str
    name: str | None


def envelope_sender(from_header: str) -> str:
    """The bare address of EMAIL_FROM ("Name <a@b>" or "a@b"), for MAIL FROM."""
    return parseaddr(from_header)[1]


def check_address(address: str) -> str:
    if not address.isascii() or _ADDRESS.fullmatch(address) is None:
        raise BadAddress(f"{address!r} is not an address this service can send to")
    return address


def _charset() -> Any:
    # (typed Any: the stubs want a charset name, the email package takes a Charset too)
    charset = Charset("utf-8")
    charset.body_encoding = QP  # readable, and 7-bit for any server
    return charset


def _header(value: str) -> Any:
    return value if value.isascii() else Header(value, "utf-8")


def build(content: Content, recipient: Recipient, *, from_header: str) -> bytes:
    """The message for one recipient, CRLF line endings, ready for DATA.

    Built with the email package's compat32 classes: a fifth of the time of EmailMessage
    with the modern policy, which matters at one message per recipient."""
    address = check_address(recipient.email)
    values = {"name": recipient.name, "email": recipient.email, "id": recipient.member_id}
    text = MIMEText(render(content.text, values), "plain", _charset())
    message: MIMEText | MIMEMultipart = text
    if content.html is not None:
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(render(content.html, values, html=True), "html", _charset()))
    message["From"] = from_header
    name = render_header(recipient.name or "", {})
    message["To"] = formataddr((name, address), charset="utf-8")
    message["Subject"] = _header(render_header(content.subject, values))
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = envelope_sender(from_header).rpartition("@")[2] or "localhost"
    # the same id on every attempt, so that a receiving system can tell a repeat
    message["Message-ID"] = f"<campaign-{content.campaign_id}.{recipient.delivery_id}@{domain}>"
    return message.as_bytes(policy=_SMTP)
