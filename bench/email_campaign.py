"""Benchmark of email campaigns: a 10,000-recipient campaign through a running server to a
local SMTP server (aiosmtpd in this process), beside two raw baselines.

    python bench/email_campaign.py [--database-url postgres://postgres@127.0.0.1:5432/segments_bench_email]
                                   [--recipients 10000] [--rate-limit 0]

The database named is dropped and made again by the migrations (PostgreSQL; a name
without "bench" is refused), or a fresh SQLite file in a temporary folder by default.
A site, an ADMIN key, the members and a segment listing them are made through the API;
then ``sendSegmentEmail`` is timed (freezing the recipients), and the worker of the
server (uvicorn in a subprocess, SMTP_URL pointing here, EMAIL_RATE_LIMIT as given, 0 =
none) is timed until the SMTP server holds every message and the campaign is SUCCEEDED.
Every recipient must have received exactly one message, or the run stops with an error.

Baselines, in the same run, against the same SMTP server and database:

- raw SMTP: one aiosmtplib connection sending the same number of pre-built messages
  (MAIL / RCPT / DATA each), no database: what the SMTP exchange alone allows;
- raw SQL queue: the worker's claim (one UPDATE ... RETURNING, committed) and mark (one
  UPDATE, committed) per message on a scratch copy of the deliveries, on one connection
  of asyncpg or sqlite3 of our own, no SMTP: what the at-most-once bookkeeping costs.

The service sends one message at a time per worker (see README, "Email"), so its rate
is bounded by one SMTP round trip plus two commits per message.
"""

from __future__ import annotations

import argparse
import asyncio
import email.message
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosmtplib
from _common import (
    asyncpg_dsn,
    free_port,
    fresh_database,
    graphql_async,
    is_postgres_url,
    print_table,
    start_server,
)
from aiosmtpd.controller import Controller

from app.db import sqlite_path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

UPSERT = """mutation($m: [MemberInput!]!) {
  upsertMembers(members: $m) { created userErrors { message } } }"""
CREATE = """mutation($input: CreateSegmentInput!) {
  createSegment(input: $input) { segment { id memberCount } userErrors { message } } }"""
SEND = """mutation($input: SendSegmentEmailInput!) {
  sendSegmentEmail(input: $input) { campaign { id recipients } userErrors { message } } }"""
CAMPAIGN = "query($id: ID!) { emailCampaign(id: $id) { status sent failed } }"

TEXT = "Hello {{name}},\n\nyour member id is {{id}}.\n" + "Some news of the week.\n" * 20
HTML = "<p>Hello {{name}},</p><p>your member id is {{id}}.</p>" + "<p>Some news.</p>" * 20


class Counting:
    """An SMTP handler that accepts everything and counts messages per recipient."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.per_recipient: Counter[str] = Counter()
        self.first: float | None = None
        self.last: float | None = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        now = time.perf_counter()
        with self.lock:
            self.per_recipient.update(envelope.rcpt_tos)
            self.first = self.first or now
            self.last = now
        return "250 2.0.0 OK"

    def total(self) -> int:
        with self.lock:
            return sum(self.per_recipient.values())

    def reset(self) -> None:
        with self.lock:
            self.per_recipient.clear()
            self.first = self.last = None


async def admin_key(url: str) -> str:
    from tortoise import Tortoise

    from app.auth.models import Role
    from app.auth.service import create_key, create_site
    from app.db import tortoise_config

    await Tortoise.init(config=tortoise_config(url))
    try:
        site = await create_site(slug="bench-email", name="Bench email")
        _, secret = await create_key(site_id=site.id, name="bench-admin", role=Role.ADMIN)
    finally:
        await Tortoise.close_connections()
    return secret


async def service_run(url: str, key: str, recipients: int, counting: Counting) -> dict[str, Any]:
    ids = [f"m{i:06}" for i in range(recipients)]
    for start in range(0, recipients, 10_000):
        chunk = ids[start : start + 10_000]
        rows = [{"id": i, "email": f"{i}@example.com", "name": f"Member {i}"} for i in chunk]
        data = await graphql_async(url, key, UPSERT, {"m": rows})
        assert not data["upsertMembers"]["userErrors"], data
    data = await graphql_async(url, key, CREATE, {"input": {"name": "All", "memberIds": ids}})
    segment = data["createSegment"]["segment"]
    assert segment["memberCount"] == recipients, data
    started = time.perf_counter()
    data = await graphql_async(
        url,
        key,
        SEND,
        {
            "input": {
                "segmentId": segment["id"],
                "subject": "News for {{name}}",
                "text": TEXT,
                "html": HTML,
            }
        },
    )
    frozen = time.perf_counter()
    campaign = data["sendSegmentEmail"]["campaign"]
    assert campaign["recipients"] == recipients, data
    while True:
        state = (await graphql_async(url, key, CAMPAIGN, {"id": campaign["id"]}))["emailCampaign"]
        if state["status"] in ("SUCCEEDED", "FAILED"):
            break
        await asyncio.sleep(0.05)
    done = time.perf_counter()
    if state != {"status": "SUCCEEDED", "sent": recipients, "failed": 0}:
        raise SystemExit(f"the campaign ended as {state}")
    wrong = {a: n for a, n in counting.per_recipient.items() if n != 1}
    if len(counting.per_recipient) != recipients or wrong:
        raise SystemExit(f"{len(counting.per_recipient)} recipients received; not once: {wrong}")
    assert counting.first is not None and counting.last is not None
    return {
        "freeze_s": frozen - started,
        "total_s": done - started,
        "sending_s": counting.last - counting.first,
    }


async def raw_smtp(port: int, recipients: int) -> float:
    from email.policy import SMTP

    message = email.message.EmailMessage(policy=SMTP)
    message["From"], message["To"], message["Subject"] = "b@example.com", "x@example.com", "News"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    body = message.as_bytes()
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="localhost")
    await smtp.connect()
    started = time.perf_counter()
    for i in range(recipients):
        await smtp.mail("b@example.com")
        await smtp.rcpt(f"raw{i}@example.com")
        await smtp.data(body)
    elapsed = time.perf_counter() - started
    await smtp.quit()
    return elapsed


_SCRATCH_PG = """
CREATE TEMP TABLE q AS SELECT id, status, next_attempt_at, claimed_at, sent_at, attempts
  FROM email_deliveries;
CREATE INDEX ON q (status, next_attempt_at, id);
UPDATE q SET status = 'PENDING', claimed_at = NULL, sent_at = NULL;
ANALYZE q;
"""
_CLAIM = """UPDATE q SET status = 'SENDING', claimed_at = {now}, attempts = attempts + 1
 WHERE id = (SELECT id FROM q WHERE status = 'PENDING' AND next_attempt_at <= {now}
              ORDER BY next_attempt_at, id LIMIT 1{lock}) AND status = 'PENDING'
RETURNING id"""
_MARK = "UPDATE q SET status = 'SENT', sent_at = {now} WHERE id = {id} AND status = 'SENDING'"


async def raw_queue_postgres(url: str) -> tuple[int, float]:
    import asyncpg

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(_SCRATCH_PG)
        claim = _CLAIM.format(now="now()", lock=" FOR UPDATE SKIP LOCKED")
        mark = _MARK.format(now="now()", id="$1")
        n = 0
        started = time.perf_counter()
        while True:
            async with conn.transaction():
                row = await conn.fetchrow(claim)
            if row is None:
                break
            async with conn.transaction():
                await conn.execute(mark, row["id"])
            n += 1
        return n, time.perf_counter() - started
    finally:
        await conn.close()


def raw_queue_sqlite(url: str) -> tuple[int, float]:
    path = sqlite_path(url)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(
            "CREATE TEMP TABLE q AS SELECT id, status, next_attempt_at, claimed_at, sent_at,"
            " attempts FROM email_deliveries; CREATE INDEX temp.q_due ON q"
            " (status, next_attempt_at, id); UPDATE q SET status = 'PENDING';"
        )
        now = "'9999-12-31 00:00:00+00:00'"
        claim, mark = _CLAIM.format(now=now, lock=""), _MARK.format(now=now, id="?")
        n = 0
        started = time.perf_counter()
        while True:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute(claim).fetchone()
            db.execute("COMMIT")
            if row is None:
                break
            db.execute("BEGIN IMMEDIATE")
            db.execute(mark, (row[0],))
            db.execute("COMMIT")
            n += 1
        return n, time.perf_counter() - started
    finally:
        db.close()


async def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--rate-limit", type=float, default=0.0)
    args = parser.parse_args(argv)
    url = args.database_url or f"sqlite://{tempfile.mkdtemp(prefix='bench-email-')}/bench.sqlite3"
    await fresh_database(url)
    key = await admin_key(url)

    counting = Counting()
    controller = Controller(counting, hostname="127.0.0.1", port=free_port())
    controller.start()
    env = {
        "SMTP_URL": f"smtp://127.0.0.1:{controller.port}",
        "EMAIL_RATE_LIMIT": str(args.rate_limit),
        "EMAIL_POLL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    try:
        with start_server(url, env=env) as server:
            service = await service_run(server.url, key, args.recipients, counting)
        counting.reset()
        smtp_seconds = await raw_smtp(controller.port, args.recipients)
        if is_postgres_url(url):
            queued, queue_seconds = await raw_queue_postgres(url)
        else:
            queued, queue_seconds = await asyncio.to_thread(raw_queue_sqlite, url)
    finally:
        controller.stop()
    n = args.recipients
    backend = "PostgreSQL" if is_postgres_url(url) else "SQLite"
    print(f"\n{n:,} recipients, {backend}, EMAIL_RATE_LIMIT={args.rate_limit:g}")
    print_table(
        [
            {
                "what": "service: sendSegmentEmail (freeze + store)",
                "messages": n,
                "seconds": service["freeze_s"],
                "msg/s": None,
            },
            {
                "what": "service: worker, first to last message",
                "messages": n,
                "seconds": service["sending_s"],
                "msg/s": n / service["sending_s"],
            },
            {
                "what": "service: call to campaign SUCCEEDED",
                "messages": n,
                "seconds": service["total_s"],
                "msg/s": n / service["total_s"],
            },
            {
                "what": "raw SMTP: one aiosmtplib connection",
                "messages": n,
                "seconds": smtp_seconds,
                "msg/s": n / smtp_seconds,
            },
            {
                "what": "raw SQL queue: claim + mark commits",
                "messages": queued,
                "seconds": queue_seconds,
                "msg/s": queued / queue_seconds,
            },
        ]
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
