"""The worker that sends webhooks: one asyncio task in each server process, started and
stopped by the app's lifespan, woken by every committed membership change (the
``membership.changes`` topic, heard from every process on PostgreSQL) and by a timer for
retries. It sends to up to WEBHOOK_CONCURRENCY webhooks at once, one batch per claim; a
receiver's slowness only ever holds its own webhook's claim, never a mutation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta

from app import background
from app.background import idle_seconds, started, woken
from app.changes.record import TOPIC
from app.live.broker import Message, broker
from app.metrics import WEBHOOK_ATTEMPTS
from app.settings import Settings
from app.webhooks import queue, sender
from app.webhooks.addresses import AddressError, check

log = logging.getLogger("segments.webhooks")

Clock = Callable[[], datetime]

_running: set[WebhookWorker] = set()
_listening = False
PRUNE_EVERY_SECONDS = 3600.0


def _wake_all(message: Message | None = None) -> None:
    for worker in list(_running):
        worker.wake()


def notify() -> None:
    """Wake this process's workers (a webhook was enabled again, say)."""
    _wake_all()


def _now() -> datetime:
    return datetime.now(UTC)


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """How long to wait after the attempts-th failed attempt: the base doubled per attempt,
    capped, with jitter (between half and all of it) so that receivers are not hit in waves."""
    delay = background.backoff_seconds(
        attempts, settings.webhook_retry_base_seconds, settings.webhook_retry_max_seconds
    )
    return delay * random.uniform(0.5, 1.0)  # jitter, not a secret


class WebhookWorker:
    def __init__(self, settings: Settings, *, clock: Clock = _now) -> None:
        self.settings = settings
        self.clock = clock
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._pruned = -float("inf")

    def start(self) -> None:
        global _listening
        if not _listening:  # one process-wide handler for every worker of the process
            broker.on(TOPIC, _wake_all)
            _listening = True
        self._stopping = False
        _running.add(self)
        self._task = asyncio.create_task(self._run(), name="webhook-worker")

    async def stop(self, grace: float | None = None) -> None:
        """Finish the sends in hand (settling them), then end; cancelled after grace seconds."""
        self._stopping = True
        _running.discard(self)
        self._wake.set()
        task, self._task = self._task, None
        loop = asyncio.get_running_loop()
        until = None if grace is None else loop.time() + grace
        late: set[asyncio.Task[None]] = set()
        if task is not None:
            _, late = await asyncio.wait([task], timeout=grace)
        # the loop has ended (or is late): the send it spawned from a claim it had in hand
        # when told to stop is among the sends now, and is finished too
        if self._sends:
            left = None if until is None else max(until - loop.time(), 0.0)
            _, late_sends = await asyncio.wait(set(self._sends), timeout=left)
            late |= late_sends
        for t in late:
            t.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    async def abort(self) -> None:
        """End at once, as a crash would: a delivery in hand stays PENDING and claimed, and is
        sent again (same id) by a worker that claims the webhook once the claim has run out."""
        self._stopping = True
        _running.discard(self)
        tasks = [t for t in (self._task, *self._sends) if t is not None]
        self._task = None
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        s = self.settings
        while not self._stopping:
            self._wake.clear()
            try:
                await self._prune()
                while len(self._sends) < s.webhook_concurrency and not self._stopping:
                    now = self.clock()
                    lease = now + timedelta(seconds=s.webhook_claim_timeout_seconds)
                    claimed = await queue.claim(now, lease)
                    if claimed is None:
                        break
                    self._spawn(claimed)
                await self._wait(await self._idle_seconds())
            except Exception:  # the database went away, say: log, wait, go on
                log.exception("webhook worker step failed")
                await self._wait(s.webhook_poll_seconds)

    def _spawn(self, claimed: queue.Claimed) -> None:
        task = asyncio.create_task(self._serve(claimed), name=f"webhook-{claimed.id}")
        self._sends.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._sends.discard(t)
            self._wake.set()  # a slot is free, and that webhook may have more to send

        task.add_done_callback(done)

    async def _wait(self, seconds: float) -> None:
        if not self._stopping:
            await woken(self._wake, seconds)

    async def _idle_seconds(self) -> float:
        due = await queue.next_due(self.clock())
        return idle_seconds(due, self.clock(), self.settings.webhook_poll_seconds)

    async def _prune(self) -> None:
        if time.monotonic() - self._pruned < PRUNE_EVERY_SECONDS:
            return
        self._pruned = time.monotonic()
        keep = timedelta(days=self.settings.membership_history_days)
        gone = 0
        while (n := await queue.prune(before=self.clock() - keep)) > 0:
            gone += n
        if gone:
            log.info("webhooks: %d settled deliveries past retention deleted", gone)

    async def _serve(self, claimed: queue.Claimed) -> None:
        """Send the claimed webhook's next batch (or its PENDING one) and settle it."""
        s = self.settings
        try:
            delivery = await queue.next_delivery(
                claimed, batch_size=s.webhook_batch_size, now=self.clock()
            )
            if delivery is None:
                await queue.release(claimed)
                return
            answer = await self._attempt(claimed, delivery)
            await self._settle(claimed, delivery, answer)
        except asyncio.CancelledError:
            raise  # a crash, as far as the queue knows: the claim runs out, the batch goes again
        except Exception:
            log.exception("webhook %d: sending failed", claimed.id)
            with contextlib.suppress(Exception):
                await queue.release(claimed)

    async def _attempt(self, claimed: queue.Claimed, delivery: queue.Delivery) -> sender.Answer:
        s = self.settings
        try:
            target = await check(claimed.url, allow_private=s.webhook_allow_private_networks)
        except AddressError as exc:
            return sender.Answer(None, str(exc))
        content = sender.body(await queue.changes(delivery))
        sent = sender.headers(
            secret=claimed.secret,
            message_id=str(delivery.id),
            timestamp=self.clock(),
            content=content,
        )
        return await sender.post(target, content, sent, s.webhook_timeout_seconds)

    async def _settle(
        self, claimed: queue.Claimed, delivery: queue.Delivery, answer: sender.Answer
    ) -> None:
        s = self.settings
        now = self.clock()
        if answer.ok:
            assert answer.status is not None
            await queue.succeeded(delivery, status=answer.status, now=now)
            WEBHOOK_ATTEMPTS.labels("succeeded").inc()
            return
        error = answer.error or "failed"
        since = claimed.failing_since or now
        window = timedelta(hours=s.webhook_max_failure_hours)
        if now - since >= window:
            reason = (
                f"disabled at {now.isoformat()} after failing since {since.isoformat()}"
                f" (over WEBHOOK_MAX_FAILURE_HOURS={s.webhook_max_failure_hours:g});"
                f" last error: {error}"
            )
            await queue.give_up(delivery, status=answer.status, error=error, reason=reason)
            WEBHOOK_ATTEMPTS.labels("disabled").inc()
            log.warning("webhook %d disabled: %s", claimed.id, reason)
            return
        retry_at = now + timedelta(seconds=backoff_seconds(delivery.attempts, s))
        await queue.retry_later(
            delivery, status=answer.status, error=error, failing_since=since, retry_at=retry_at
        )
        WEBHOOK_ATTEMPTS.labels("failed").inc()


def running(settings: Settings) -> AbstractAsyncContextManager[WebhookWorker | None]:
    """The worker for an app's lifespan (none when WEBHOOK_WORKER is off)."""
    worker = WebhookWorker(settings) if settings.webhook_worker else None
    return started(worker, grace=settings.webhook_timeout_seconds + 5)
