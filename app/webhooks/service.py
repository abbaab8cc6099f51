"""Webhooks of a site: create (with its signing secret), read, update (merge), delete, and
their deliveries. The URL is checked at every save (and again at every send, by the worker).
A new webhook starts at the current end of the site's record: it never receives changes
recorded before it was made."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from app.checks import check_description
from app.db import fetch, parse_pk
from app.errors import DomainError, ErrorCode, not_found
from app.listing import Listing
from app.segments import service as segments
from app.segments.models import Segment
from app.settings import get_settings
from app.webhooks.addresses import AddressError, check
from app.webhooks.models import NO_SEGMENT_LEFT, DeliveryStatus, Webhook, WebhookDelivery
from app.webhooks.sender import new_secret

MAX_SEGMENTS = 1000


@dataclass
class WebhookData:
    url: str
    segment_ids: Sequence[str] | None = None
    description: str | None = None
    enabled: bool = True


async def _check_url(url: str, *, allow_private: bool) -> str:
    # a host that does not resolve (yet) is taken: the worker checks it again at each send
    url = url.strip()
    try:
        await check(url, allow_private=allow_private, unresolved_ok=True)
    except AddressError as exc:
        raise DomainError(ErrorCode.INVALID, str(exc), ["url"]) from exc
    return url


def _check_segment_ids(segment_ids: Sequence[str] | None) -> None:
    """INVALID for an empty list, TOO_LARGE past MAX_SEGMENTS (before any statement)."""
    if segment_ids is None:
        return
    path = ["segment_ids"]
    if not segment_ids:
        raise DomainError(
            ErrorCode.INVALID, "segmentIds must name a segment (null: every segment)", path
        )
    if len(segment_ids) > MAX_SEGMENTS:
        raise DomainError(ErrorCode.TOO_LARGE, f"more than {MAX_SEGMENTS} segmentIds", path)


async def _segment_pks(
    tx: BaseDBAsyncClient, site_id: int, segment_ids: Sequence[str] | None
) -> list[int] | None:
    """In the transaction that saves the webhook: the pks of the site's segments named (None
    stays None: every segment); NOT_FOUND for an id that names none of them (another site's
    included). Their rows stay locked (PostgreSQL) until it commits, so a segment's delete,
    which locks its row before it takes the segment out of the webhooks, either ends before
    (and the segment is not found here) or waits for this webhook and then sees it; both lock
    segments before webhooks, so neither waits for the other in a circle."""
    if segment_ids is None:
        return None
    _check_segment_ids(segment_ids)
    path = ["segment_ids"]
    pks = [parse_pk(str(i)) for i in segment_ids]
    wanted = sorted({p for p in pks if p is not None})
    found: list[Segment] = await (
        Segment.filter(site_id=site_id, id__in=wanted)
        .using_db(tx)
        .select_for_update()
        .order_by("id")
        .only("id")
    )
    known = {int(s.id) for s in found}
    for index, (given, pk) in enumerate(zip(segment_ids, pks, strict=True)):
        if pk is None or pk not in known:
            raise not_found("segment", str(given), [*path, str(index)])
    return sorted(known)


async def _record_end(site_id: int, connection: Any) -> int:
    """Where a new webhook starts: past the site's last change, kept or pruned (a cursor
    before a pruned change would read as changes lost to it: app.webhooks.queue)."""
    rows = await fetch(
        "SELECT MAX(id) AS last FROM membership_changes WHERE site_id = $1"
        " UNION ALL SELECT MAX(pruned_to) FROM membership_prune_marks WHERE site_id = $1",
        [site_id],
        connection,
    )
    return max((int(r["last"] or 0) for r in rows), default=0)


async def get(*, site_id: int, webhook_id: str) -> Webhook | None:
    """The site's webhook with that id; None for an unknown id or another site's."""
    pk = parse_pk(webhook_id)
    if pk is None:
        return None
    found: Webhook | None = await Webhook.filter(site_id=site_id, id=pk).first()
    return found


async def list_webhooks(*, site_id: int) -> list[Webhook]:
    """The site's webhooks, oldest first."""
    rows: list[Webhook] = await Webhook.filter(site_id=site_id).order_by("id")
    return rows


async def create(*, site_id: int, data: WebhookData, allow_private: bool) -> Webhook:
    """A webhook with a new secret (read it from the returned row: it is shown only once)."""
    url = await _check_url(data.url, allow_private=allow_private)
    check_description(data.description, ["description"])
    _check_segment_ids(data.segment_ids)
    limit = get_settings().max_webhooks_per_site
    async with in_transaction() as tx:
        segments = await _segment_pks(tx, site_id, data.segment_ids)
        if await Webhook.filter(site_id=site_id).using_db(tx).count() >= limit:
            raise DomainError(
                ErrorCode.TOO_LARGE, f"a site has at most {limit} webhooks (MAX_WEBHOOKS_PER_SITE)"
            )
        webhook: Webhook = await Webhook.create(
            using_db=tx,
            site_id=site_id,
            url=url,
            description=data.description,
            segment_ids=segments,
            enabled=data.enabled,
            secret=new_secret(),
            cursor=await _record_end(site_id, tx),
        )
    return webhook


async def update(
    *, site_id: int, webhook_id: str, changes: dict[str, Any], allow_private: bool
) -> Webhook:
    """Merge changes into a webhook. Enabling it again clears disabledReason and resumes
    where it stopped; segmentIds null: every segment, from its next batch on. Enabling it or
    changing its url makes its PENDING delivery due at once (the backoff was the old
    receiver's; the caller wakes the worker)."""
    unknown = set(changes) - {"url", "segment_ids", "description", "enabled"}
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    for name in ("url", "enabled"):
        if name in changes and changes[name] is None:
            raise DomainError(ErrorCode.INVALID, f"{name} cannot be null", [name])
    sets: dict[str, Any] = {}
    if "url" in changes:
        sets["url"] = await _check_url(changes["url"], allow_private=allow_private)
    if "description" in changes:
        check_description(changes["description"], ["description"])
        sets["description"] = changes["description"]
    if "segment_ids" in changes:
        _check_segment_ids(changes["segment_ids"])
    async with in_transaction() as tx:
        # the segments first (locked), then the webhook: the order a segment's delete takes
        if "segment_ids" in changes:
            sets["segment_ids"] = await _segment_pks(tx, site_id, changes["segment_ids"])
        pk = parse_pk(webhook_id)
        qs = Webhook.filter(site_id=site_id, id=pk or 0).using_db(tx)
        webhook: Webhook | None = await qs.select_for_update().first()
        if webhook is None:
            raise not_found("webhook", webhook_id, ["id"])
        if "enabled" in changes:
            sets["enabled"] = bool(changes["enabled"])
            if sets["enabled"] and not webhook.enabled:
                sets.update(disabled_reason=None, failing_since=None, next_attempt_at=None)
        if "url" in sets and sets["url"] != webhook.url:
            # a new receiver: its pending delivery is due now, not after the old one's backoff
            sets["next_attempt_at"] = None
        if (
            sets.get("enabled", webhook.enabled)
            and sets.get("segment_ids", webhook.segment_ids) == []
            and not webhook.draining_segment_ids  # still delivering a deleted segment's exits
        ):
            raise DomainError(ErrorCode.INVALID, NO_SEGMENT_LEFT, ["segment_ids"])
        if sets:
            webhook.update_from_dict(sets)
            # only these: the cursor and the claim are the worker's (the retry time too, but
            # for the reset above)
            await webhook.save(using_db=tx, update_fields=[*sets, "updated_at"])
    return webhook


async def segment_deleted(tx: BaseDBAsyncClient, site_id: int, segment_pk: int) -> None:
    """In the segment's delete transaction (after its SEGMENT_DELETED exits are recorded): its
    id leaves the segmentIds of the site's webhooks, never widening one to every segment (what
    null means). A webhook with changes of the segment past its cursor (the exits, say) keeps
    it as a draining segment until it has delivered them (app.webhooks.queue); one left with
    no segment is disabled (with that reason) once it has, at once when it has nothing to
    deliver.

    The segment's row is locked first (PostgreSQL), then the webhooks in id order: a webhook
    saved meanwhile naming the segment holds that row until it commits, and is seen here."""
    await Segment.filter(site_id=site_id, id=segment_pk).using_db(tx).select_for_update().only("id")
    rows: list[Webhook] = (
        await Webhook.filter(site_id=site_id, segment_ids__not_isnull=True)
        .using_db(tx)
        .select_for_update()
        .order_by("id")
    )
    watching = [w for w in rows if segment_pk in (w.segment_ids or [])]
    if not watching:
        return
    # the segment's last change (the record's writers hold the site's lock: nothing of this
    # site commits meanwhile, and no change of the segment is recorded after its delete)
    last_rows = await fetch(
        "SELECT MAX(id) AS last FROM membership_changes WHERE segment_id = $1 AND site_id = $2",
        [segment_pk, site_id],
        tx,
    )
    last = last_rows[0]["last"] if last_rows else None
    for webhook in watching:
        webhook.segment_ids = [p for p in webhook.segment_ids or [] if p != segment_pk]
        fields = ["segment_ids", "updated_at"]
        if last is not None and int(last) > webhook.cursor:
            webhook.draining_segment_ids = [*(webhook.draining_segment_ids or []), segment_pk]
            webhook.draining_until = max(int(last), webhook.draining_until or 0)
            fields += ["draining_segment_ids", "draining_until"]
        if not webhook.segment_ids and not webhook.draining_segment_ids:
            webhook.enabled, webhook.disabled_reason = False, NO_SEGMENT_LEFT
            fields += ["enabled", "disabled_reason"]
        await webhook.save(using_db=tx, update_fields=fields)


segments.deleted_listeners.append(segment_deleted)


async def delete(*, site_id: int, webhook_id: str) -> None:
    """Delete a webhook and its deliveries (one being sent may still arrive)."""
    pk = parse_pk(webhook_id)
    deleted = await Webhook.filter(site_id=site_id, id=pk or 0).delete() if pk else 0
    if not deleted:
        raise not_found("webhook", webhook_id, ["id"])


def _deliveries(site_id: int, webhook_pk: int, status: DeliveryStatus | None) -> Any:
    qs = WebhookDelivery.filter(site_id=site_id, webhook_id=webhook_pk)
    return qs if status is None else qs.filter(status=status)


# a webhook's deliveries (filters webhook_pk, status), newest first
DELIVERIES = Listing(_deliveries, "-id", int)
