"""Email campaigns: send to a segment's members (freezing the recipients), read campaigns
and their deliveries. Sending itself is the worker's (app/email/worker.py)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.db import fetch, is_postgres, ts
from app.email import templating, worker
from app.email.models import CampaignStatus, DeliveryStatus, EmailCampaign, EmailDelivery
from app.errors import DomainError, ErrorCode
from app.events import service as events
from app.idempotency import service as idempotency
from app.idempotency.service import Once
from app.ids import by_id
from app.listing import Listing
from app.memberships import service as memberships
from app.segments import service as segments
from app.segments.models import Segment
from app.settings import get_settings

FREEZE_BATCH = 5000  # members read per query while freezing
INSERT_BATCH = 20_000  # deliveries written per statement
MAX_REPORTED_IDS = 20  # ids named in a userError message


@dataclass
class Frozen:
    """The recipients of a campaign as they are now, and who was left out and why."""

    rows: list[tuple[int, str, str, str | None]] = field(
        default_factory=list
    )  # pk, id, email, name
    opted_out: int = 0
    without_email: int = 0
    found: set[str] = field(default_factory=set)  # the selected ids met among the members

    def counts(self) -> dict[str, int]:
        """The campaign's counts: its recipients, and the members left out."""
        return {
            "recipients": len(self.rows),
            "opted_out": self.opted_out,
            "without_email": self.without_email,
        }


class Message(NamedTuple):
    """What every recipient of a campaign is sent, before it is filled in."""

    subject: str
    text: str
    html: str | None


def _opted_out(attributes: Any) -> bool:
    return isinstance(attributes, dict) and attributes.get("email_opt_out") is True


def _named(items: Sequence[str]) -> str:
    """The first MAX_REPORTED_IDS items, comma separated, and how many more there are."""
    more = len(items) - MAX_REPORTED_IDS
    return ", ".join(items[:MAX_REPORTED_IDS]) + (f" and {more} more" if more > 0 else "")


def _check_content(subject: str, text: str, html: str | None) -> None:
    s = get_settings()
    if not subject.strip():
        raise DomainError(ErrorCode.INVALID, "subject must not be empty", ["subject"])
    if len(subject) > s.max_email_subject_length:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"subject is over the limit of {s.max_email_subject_length} characters",
            ["subject"],
        )
    if not text.strip():
        raise DomainError(ErrorCode.INVALID, "text must not be empty", ["text"])
    for name, body in (("text", text), ("html", html)):
        if body is not None and len(body.encode("utf-8")) > s.max_email_body_bytes:
            raise DomainError(
                ErrorCode.TOO_LARGE,
                f"{name} is over the limit of {s.max_email_body_bytes} bytes",
                [name],
            )
    for name, template in (("subject", subject), ("text", text), ("html", html)):
        wrong = templating.unknown(template or "")
        if wrong:
            raise DomainError(
                ErrorCode.INVALID,
                f"{name} holds unknown placeholders: {_named(wrong)}"
                " (only {{name}}, {{email}} and {{id}} are filled in)",
                [name],
            )


def _check_selection(member_ids: Sequence[str] | None) -> list[str] | None:
    if member_ids is None:
        return None
    ids = list(dict.fromkeys(member_ids))
    if not ids:
        raise DomainError(
            ErrorCode.INVALID,
            "memberIds must name at least one member (omit it to send to every member)",
            ["member_ids"],
        )
    limit = min(get_settings().max_email_recipients, get_settings().max_bulk_ids)
    if len(ids) > limit:
        raise DomainError(
            ErrorCode.TOO_LARGE,
            f"{len(ids)} memberIds is over the limit of {limit}",
            ["member_ids"],
        )
    return ids


async def _freeze(tx: BaseDBAsyncClient, segment: Segment, selected: set[str] | None) -> Frozen:
    """Read the segment's effective members once, in batches, inside the campaign's transaction,
    keeping those to mail; refuses (before anything is written) past the recipient limit."""
    limit = get_settings().max_email_recipients
    frozen = Frozen()
    pages = memberships.every_member(
        site_id=segment.site_id, segment_pk=segment.id, batch=FREEZE_BATCH, connection=tx
    )
    async with aclosing(pages):
        async for page in pages:
            for row in page:
                member_id = row["external_id"]
                if selected is not None:
                    if member_id not in selected:
                        continue
                    frozen.found.add(member_id)
                email = (row["email"] or "").strip()
                if not email:
                    frozen.without_email += 1
                elif _opted_out(row["attributes"]):
                    frozen.opted_out += 1
                else:
                    frozen.rows.append((int(row["id"]), member_id, email, row["name"]))
                    if len(frozen.rows) > limit:
                        raise DomainError(
                            ErrorCode.TOO_LARGE,
                            f"the segment has more than {limit} recipients, the limit per campaign",
                            ["segment_id"],
                        )
            if selected is not None and frozen.found == selected:
                break  # every member asked for is found: the next page is not read
    return frozen


async def _insert_deliveries(
    tx: BaseDBAsyncClient, *, site_id: int, campaign_pk: int, frozen: Frozen, now: datetime
) -> None:
    """One statement per INSERT_BATCH recipients: unnest on PostgreSQL, json_each on SQLite."""
    columns = (
        "INSERT INTO email_deliveries (site_id, campaign_id, member_pk, member_id, email, name,"
        " status, attempts, next_attempt_at)"
    )
    for start in range(0, len(frozen.rows), INSERT_BATCH):
        chunk = frozen.rows[start : start + INSERT_BATCH]
        if is_postgres(tx):  # unnest of column arrays; SQLite has none (json_each below)
            pks, ids, emails, names = (list(c) for c in zip(*chunk, strict=True))
            await fetch(
                f"{columns} SELECT $1::bigint, $2::bigint, t.pk, t.mid, t.email, t.name,"
                " 'PENDING', 0, $3::timestamptz"
                " FROM unnest($4::bigint[], $5::text[], $6::text[], $7::text[])"
                " WITH ORDINALITY AS t(pk, mid, email, name, n) ORDER BY t.n",
                [site_id, campaign_pk, now, pks, ids, emails, names],
                tx,
            )
        else:
            await fetch(
                f"{columns} SELECT $1, $2, json_extract(t.value, '$[0]'),"
                " json_extract(t.value, '$[1]'), json_extract(t.value, '$[2]'),"
                " json_extract(t.value, '$[3]'), 'PENDING', 0, $3"
                " FROM json_each($4) AS t ORDER BY t.key",
                [site_id, campaign_pk, ts(now, tx), orjson.dumps(chunk).decode()],
                tx,
            )


async def send_segment_email(
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    subject: str,
    text: str,
    html: str | None = None,
    member_ids: Sequence[str] | None = None,
    idempotency_key: str | None = None,
) -> EmailCampaign:
    """Store a campaign and one delivery per recipient in one transaction, and wake the
    worker. Recipients: the segment's effective members (or only member_ids, which must all
    be effective members) with an email and no attributes.email_opt_out = true."""
    html = html if html is not None and html.strip() else None
    _check_content(subject, text, html)
    selection = _check_selection(member_ids)

    request = {
        "segmentId": segment_id,
        "subject": subject,
        "text": text,
        "html": html,
        "memberIds": selection,
    }
    once = Once.of(
        site_id=site_id, key=idempotency_key, operation="sendSegmentEmail", request=request
    )

    async def attempt() -> Any:
        async with in_transaction() as tx:
            if once is not None:
                stored = await once.replay(tx)
                if stored is not None:
                    return stored
            outcome = await _store(
                tx,
                site_id=site_id,
                actor=actor,
                segment_id=segment_id,
                message=Message(subject, text, html),
                selection=selection,
            )
            if once is not None:
                await once.remember(tx, outcome)
            return outcome

    outcome = await idempotency.retrying(once, attempt)
    worker.notify()
    return await EmailCampaign.get(site_id=site_id, id=outcome["campaignId"])


async def _store(
    tx: BaseDBAsyncClient,
    *,
    site_id: int,
    actor: str,
    segment_id: str,
    message: Message,
    selection: list[str] | None,
) -> dict[str, Any]:
    """The campaign and one delivery per recipient, the recipients read in the same
    transaction that stores them."""
    segment = await segments.get_or_fail(
        site_id=site_id, segment_id=segment_id, field=["segment_id"], connection=tx
    )
    if segment.archived_at is not None:  # out of day-to-day use until restored
        raise DomainError(
            ErrorCode.CONFLICT,
            f"segment {segment.name!r} is archived: restore it to send to it",
            ["segment_id"],
        )
    selected = set(selection) if selection is not None else None
    frozen = await _freeze(tx, segment, selected)
    if selection is not None and len(frozen.found) < len(selection):
        missing = [i for i in selection if i not in frozen.found]
        raise DomainError(
            ErrorCode.NOT_FOUND,
            f"{len(missing)} of memberIds are not members of the segment:"
            f" {_named([repr(i) for i in missing])}",
            ["member_ids"],
        )
    now = datetime.now(UTC)
    done = not frozen.rows  # nothing to send: finished as it starts
    campaign = await EmailCampaign.create(
        using_db=tx,
        site_id=site_id,
        segment_id=segment.id,
        actor=actor,
        status=CampaignStatus.SUCCEEDED if done else CampaignStatus.PENDING,
        finished_at=now if done else None,
        **message._asdict(),
        **frozen.counts(),
    )
    await _insert_deliveries(tx, site_id=site_id, campaign_pk=campaign.id, frozen=frozen, now=now)
    recipients = [r[1] for r in frozen.rows]
    await events.email_sent(tx, segment, actor=actor, recipients=recipients)
    return {"campaignId": campaign.id}


async def get(*, site_id: int, campaign_id: str) -> EmailCampaign | None:
    """The site's campaign with that id; None for an unknown id or another site's."""
    return await by_id(EmailCampaign.filter(site_id=site_id), campaign_id)


async def delivery_counts(
    *, site_id: int, campaign_pks: Sequence[int]
) -> dict[int, dict[DeliveryStatus, int]]:
    """Deliveries per campaign and status, in one statement."""
    if not campaign_pks:
        return {}
    marks = ", ".join(f"${i + 2}" for i in range(len(campaign_pks)))
    rows = await fetch(
        "SELECT campaign_id, status, COUNT(*) AS n FROM email_deliveries"
        f" WHERE site_id = $1 AND campaign_id IN ({marks}) GROUP BY campaign_id, status",
        [site_id, *campaign_pks],
    )
    counts: dict[int, dict[DeliveryStatus, int]] = {pk: {} for pk in campaign_pks}
    for r in rows:
        counts[int(r["campaign_id"])][DeliveryStatus(r["status"])] = int(r["n"])
    return counts


def _deliveries(site_id: int, campaign_pk: int, status: DeliveryStatus | None) -> Any:
    qs = EmailDelivery.filter(site_id=site_id, campaign_id=campaign_pk)
    return qs.filter(status=status) if status is not None else qs


# a campaign's deliveries (filters campaign_pk, status) in recipient order
DELIVERIES = Listing(_deliveries, "id", int)


async def sending_campaigns(
    *, site_id: int, segment_pks: Sequence[int]
) -> dict[int, list[EmailCampaign]]:
    """The email campaigns still sending (PENDING or RUNNING) to each segment, oldest first."""
    rows: list[EmailCampaign] = await EmailCampaign.filter(
        site_id=site_id,
        segment_id__in=list(segment_pks),
        status__in=[CampaignStatus.PENDING, CampaignStatus.RUNNING],
    ).order_by("id")
    found: dict[int, list[EmailCampaign]] = {pk: [] for pk in segment_pks}
    for campaign in rows:
        found[campaign.segment_id].append(campaign)
    return found
