"""The worker that sends campaigns: one asyncio task in the server process, started and
stopped by the app's lifespan, taking one delivery at a time from the database queue.

Taking one at a time keeps the at-most-once window to one message per worker: if the
process dies between the server's "250 OK" and the mark's commit, that one delivery stays
claimed and is later settled as FAILED (it may have gone out) instead of being sent twice.
Everything else a dead worker left resumes when a worker starts again, since the queue is
the database itself. Several processes may each run a worker (SKIP LOCKED on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from app.background import backoff_seconds, idle_seconds, started, woken
from app.email import queue
from app.email.message import BadAddress, Content, Recipient, build, envelope_sender
from app.email.outbox import OutboxSender
from app.email.senders import Outcome, Result, Sender, Unavailable
from app.email.smtp import SmtpSender, parse_smtp_url
from app.settings import Settings

log = logging.getLogger("segments.email")

_running: set[EmailWorker] = set()


def make_sender(settings: Settings) -> Sender:
    """The sender the settings ask for; a malformed SMTP_URL raises ValueError here, at start."""
    if settings.smtp_url:
        return SmtpSender(parse_smtp_url(settings.smtp_url, settings))
    return OutboxSender(settings.email_outbox_dir)


def notify() -> None:
    """Wake this process's workers: new deliveries were committed."""
    for worker in list(_running):
        worker.wake()


def _now() -> datetime:
    return datetime.now(UTC)


class EmailWorker:
    def __init__(self, settings: Settings, sender: Sender | None = None) -> None:
        self.settings = settings
        self.sender = sender or make_sender(settings)
        self.from_header = settings.email_from
        self.envelope_from = envelope_sender(settings.email_from)
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._contents: dict[int, Content] = {}
        self._started: set[int] = set()  # campaigns this worker has marked RUNNING
        self._next_slot = 0.0  # monotonic time before which the rate limit allows no send
        self._outage = 0  # consecutive times the sender could not even begin

    def start(self) -> None:
        self._stopping = False
        _running.add(self)
        self._task = asyncio.create_task(self._run(), name="email-worker")

    async def stop(self, grace: float | None = None) -> None:
        """Finish the message in hand (marking it), then end; cancelled after grace seconds."""
        self._stopping = True
        self._wake.set()
        _running.discard(self)
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), grace)
            except TimeoutError:
                await self._abort(task)
        await self.sender.close()

    async def abort(self) -> None:
        """End at once, as a crash would: a claim in hand stays unsettled (and is settled as
        FAILED by a later worker once older than the claim timeout)."""
        self._stopping = True
        _running.discard(self)
        task, self._task = self._task, None
        if task is not None:
            await self._abort(task)

    @staticmethod
    async def _abort(task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        s = self.settings
        swept = -float("inf")
        while not self._stopping:
            try:
                if time.monotonic() - swept >= s.email_poll_seconds:
                    swept = time.monotonic()
                    await self._sweep()
                if await self._send_one():
                    continue
                await queue.finish_campaigns(_now())
                await self.sender.close()  # idle: no connection held open for nothing
                await self._wait(await self._idle_seconds())
            except Exception:  # the database went away, say: log, wait, go on
                log.exception("email worker step failed")
                await self._wait(s.email_poll_seconds)

    async def _sweep(self) -> None:
        """Settle claims left by dead workers, and close campaigns with nothing left."""
        limit = _now() - timedelta(seconds=self.settings.email_claim_timeout_seconds)
        abandoned = await queue.settle_abandoned(claimed_before=limit)
        if abandoned:
            log.warning("email: %d abandoned claims settled as FAILED", abandoned)
        await queue.finish_campaigns(_now())

    async def _wait(self, seconds: float) -> None:
        self._wake.clear()
        if not self._stopping:
            await woken(self._wake, seconds)

    async def _idle_seconds(self) -> float:
        return idle_seconds(await queue.next_due(), _now(), self.settings.email_poll_seconds)

    async def _pace(self) -> None:
        delay = self._next_slot - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _content(self, campaign_id: int) -> Content:
        content = self._contents.get(campaign_id)
        if content is None:
            if len(self._contents) > 100:
                self._contents.clear()
                self._started.clear()
            content = self._contents[campaign_id] = await queue.content(campaign_id)
        return content

    async def _send_one(self) -> bool:
        """Claim, send and mark one delivery; False when none is due."""
        await self._pace()
        claimed = await queue.claim_next(_now())
        if claimed is None:
            return False
        if claimed.campaign_id not in self._started:
            await queue.start_campaign(claimed.campaign_id, _now())
            self._started.add(claimed.campaign_id)
        recipient = Recipient(
            delivery_id=claimed.id,
            member_id=claimed.member_id,
            email=claimed.email,
            name=claimed.name,
        )
        try:
            message = build(
                await self._content(claimed.campaign_id), recipient, from_header=self.from_header
            )
        except BadAddress as exc:
            await queue.mark_failed(claimed, str(exc))
            return True
        if self.settings.email_rate_limit > 0:
            self._next_slot = time.monotonic() + 1 / self.settings.email_rate_limit
        try:
            outcome = await self._send(claimed, message)
        except Unavailable as exc:
            await queue.release(claimed, retry_at=_now(), error=str(exc), attempted=False)
            await self._back_off(str(exc))
            return True
        self._outage = 0
        await self._mark(claimed, outcome)
        return True

    async def _send(self, claimed: queue.Claimed, message: bytes) -> Outcome:
        # a bound on the whole attempt, well inside the claim timeout, whatever the server does
        limit = self.settings.email_claim_timeout_seconds / 2
        try:
            async with asyncio.timeout(limit):
                return await self.sender.send(
                    sender=self.envelope_from,
                    recipient=claimed.email,
                    message=message,
                    name=f"campaign-{claimed.campaign_id}/{claimed.id}",
                )
        except TimeoutError:
            await self.sender.close()
            return Outcome(
                Result.UNKNOWN,
                f"no answer within {limit:g} s; not sent again, so that no one is mailed twice",
            )

    async def _mark(self, claimed: queue.Claimed, outcome: Outcome) -> None:
        s = self.settings
        now = _now()
        if outcome.result is Result.SENT:
            await queue.mark_sent(claimed, now)
        elif outcome.result is not Result.RETRY:
            await queue.mark_failed(claimed, outcome.detail)
        elif claimed.attempts >= s.email_max_attempts:
            await queue.mark_failed(
                claimed, f"{outcome.detail} (gave up after {claimed.attempts} attempts)"
            )
        else:
            delay = backoff_seconds(
                claimed.attempts, s.email_retry_base_seconds, s.email_retry_max_seconds
            )
            await queue.release(
                claimed, retry_at=now + timedelta(seconds=delay), error=outcome.detail
            )

    async def _back_off(self, problem: str) -> None:
        s = self.settings
        self._outage += 1
        delay = backoff_seconds(self._outage, s.email_retry_base_seconds, s.email_retry_max_seconds)
        if self._outage == 1:
            log.warning("email: cannot send (%s); trying again, first in %g s", problem, delay)
        await self._wait(delay)


def running(settings: Settings) -> AbstractAsyncContextManager[EmailWorker | None]:
    """The worker for an app's lifespan (none when EMAIL_WORKER is off)."""
    worker = EmailWorker(settings) if settings.email_worker else None
    return started(worker, grace=settings.smtp_timeout + 5)
