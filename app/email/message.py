"""One recipient's message: the campaign's subject and bodies with the placeholders filled
in, as the bytes an SMTP server (or an .eml file) takes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from app.email.templating import render, render_header

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


def build(content: Content, recipient: Recipient, *, from_header: str) -> bytes:
    """The message for one recipient, CRLF line endings, ready for DATA."""
    address = check_address(recipient.email)
    values = {"name": recipient.name, "email": recipient.email, "id": recipient.member_id}
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = from_header
    message["To"] = formataddr((render_header(recipient.name or "", {}), address))
    message["Subject"] = render_header(content.subject, values)
    message["Date"] = format_datetime(datetime.now(UTC))
    domain = envelope_sender(from_header).rpartition("@")[2] or "localhost"
    # the same id on every attempt, so that a receiving system can tell a repeat
    message["Message-ID"] = f"<campaign-{content.campaign_id}.{recipient.delivery_id}@{domain}>"
    message.set_content(render(content.text, values))
    if content.html is not None:
        message.add_alternative(render(content.html, values, html=True), subtype="html")
    return message.as_bytes()
