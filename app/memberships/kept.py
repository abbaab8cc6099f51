"""Kept membership: the kept rows read in SQL, one writer's transaction, and the record.

The kept rows are a site's listings, listed companies, exclusions and the kept matches of its
DYNAMIC rules. Effective membership of (S, m), as they say it: (listed in S, unexpired) OR
(m's company listed in S) OR (a kept match of S) AND NOT excluded from S. Only a flip of that
answer is recorded, once; a write that flips nothing records nothing.

Every change of effective membership is written through ``emit``: one ``INSERT ... SELECT``
into ``membership_changes`` whose rows move the kept counters by (entered - exited) in the
same statement. The writers above this module: the site lock (app.memberships.lock), the
kept rows from scratch (rebuild), rule matches re-evaluated (refresh, reevaluate), the clock.

app.changes (the record's readers) sits above this package and re-exports what they use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from app.db import Params, execute, fetch, is_postgres
from app.live.broker import broker

TOPIC = "membership.changes"  # told at commit with {"upto": last id written}

ENTERED, EXITED = "ENTERED", "EXITED"


def live(alias: str, now: str) -> str:
    """The listing ``alias`` has not expired at ``now`` (a bound timestamp)."""
    return f"({alias}.expires_at IS NULL OR {alias}.expires_at > {now})"


def _probe(table: str, alias: str, seg: str, column: str, value: str, also: str = "") -> str:
    """A row of ``table`` (as ``alias``) for segment ``seg`` whose ``column`` is ``value``."""
    return (
        f"EXISTS (SELECT 1 FROM {table} {alias} WHERE {alias}.segment_id = {seg}"
        f" AND {alias}.{column} = {value}{also})"
    )


def listed(seg: str, mem: str, now: str) -> str:
    return _probe("segment_members", "kl", seg, "member_id", mem, f" AND {live('kl', now)}")


def company_listed(seg: str, company: str) -> str:
    return _probe("segment_companies", "kc", seg, "company_id", company)


def matched(seg: str, mem: str) -> str:
    return _probe("segment_rule_matches", "kr", seg, "member_id", mem)


def excluded(seg: str, mem: str) -> str:
    return _probe("segment_exclusions", "kx", seg, "member_id", mem)


def is_member(seg: str, mem: str, company: str, now: str) -> str:
    """Effective membership of the pair as the kept rows say it."""
    return (
        f"(({listed(seg, mem, now)} OR {company_listed(seg, company)} OR {matched(seg, mem)})"
        f" AND NOT {excluded(seg, mem)})"
    )


@dataclass
class Writer:
    """One writer's transaction on one site: the connection, the dialect and its clock."""

    tx: BaseDBAsyncClient
    site_id: int
    now: datetime

    @property
    def pg(self) -> bool:
        return is_postgres(self.tx)

    def params(self) -> Params:
        return Params(self.tx)

    async def rows(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return await fetch(text, params, self.tx)

    async def run(self, text: str, params: Sequence[Any] = ()) -> int:
        return await execute(text, params, self.tx)

    async def insert(self, insert: str, params: Sequence[Any] = (), *, ctes: str = "") -> int:
        """Run an INSERT (after the CTEs ``ctes``, "name AS (...), ...") and return how many
        rows it wrote (the driver's own count of an INSERT is not to be trusted)."""
        if self.pg:
            head = f"WITH {ctes}, " if ctes else "WITH "
            rows = await self.rows(
                f"{head}i AS ({insert} RETURNING 1) SELECT COUNT(*) AS n FROM i", params
            )
            return int(rows[0]["n"])
        await self.run(f"WITH {ctes} {insert}" if ctes else insert, params)
        return int((await self.rows("SELECT changes() AS n"))[0]["n"])

    async def temp(self, name: str, columns: str, *, unique: str | None = None) -> None:
        """An empty temporary table (made once per transaction on PostgreSQL)."""
        if self.pg:
            await self.run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns}) ON COMMIT DROP")
        else:
            await self.run(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({columns})")
        if unique:
            await self.run(f"CREATE UNIQUE INDEX IF NOT EXISTS {name}_key ON {name} ({unique})")
        await self.run(f"DELETE FROM {name}")

    async def analyze(self, name: str, rows: int) -> None:
        # without statistics PostgreSQL takes a filled temporary table for a tiny one and may
        # scan a big table to join it
        if self.pg and rows > 1000:
            await self.run(f"ANALYZE {name}")

    def null_pair(self) -> str:
        if self.pg:
            return "SELECT CAST(NULL AS bigint) AS segment_id, CAST(NULL AS bigint) AS member_id"
        return "SELECT NULL AS segment_id, NULL AS member_id"

    def false(self) -> str:
        return "FALSE" if self.pg else "0"


def id_list(pks: Sequence[int]) -> str:
    """An IN list of segment ids (NULL, matching nothing, for none)."""
    return ", ".join(str(int(pk)) for pk in pks) or "NULL"


# --------------------------------------------------------------------------- the record


@dataclass(frozen=True)
class Written:
    """The ids of the records one ``emit`` wrote (``first`` > ``last`` when none)."""

    first: int
    last: int

    @property
    def count(self) -> int:
        return max(self.last - self.first + 1, 0)


NOTHING = Written(1, 0)


async def emit(w: Writer, select: str, params: Sequence[Any], *, ctes: str = "") -> Written:
    """Record the changes ``select`` gives, in its order (columns segment_id, member_id,
    member_ref, kind, cause, at), move the counters by them, and tell the topic at commit.
    ``ctes`` ("name AS (...), ...", PostgreSQL): CTEs of the same statement ``select`` may
    read (and writes it makes with them)."""
    site = int(w.site_id)
    insert = (
        "INSERT INTO membership_changes (site_id, segment_id, member_id, member_ref, kind,"
        f" cause, at) SELECT {site}, f.segment_id, f.member_id, f.member_ref, f.kind, f.cause,"
        f" f.at FROM ({select}) f"
    )
    if w.pg:
        row = (
            await w.rows(
                f"WITH {ctes + ',' if ctes else ''} w AS ({insert} RETURNING id, segment_id, kind),"
                " d AS (SELECT segment_id, SUM(CASE WHEN kind = 'ENTERED' THEN 1 ELSE -1 END)"
                " AS n FROM w GROUP BY segment_id),"
                " u AS (UPDATE segment_counts k SET member_count = k.member_count + d.n FROM d"
                " WHERE k.segment_id = d.segment_id RETURNING 1)"
                " SELECT COALESCE(MIN(id), 1) AS lo, COALESCE(MAX(id), 0) AS hi FROM w",
                params,
            )
        )[0]
        written = Written(int(row["lo"]), int(row["hi"]))
    else:
        assert not ctes, "SQLite writes no CTE"
        await w.run(insert, params)
        row = (await w.rows("SELECT changes() AS n, last_insert_rowid() AS hi"))[0]
        n = int(row["n"])
        written = Written(int(row["hi"]) - n + 1, int(row["hi"])) if n else NOTHING
        if n:
            span = f"c.id BETWEEN {written.first} AND {written.last}"
            await w.run(
                "UPDATE segment_counts SET member_count = member_count + (SELECT"
                " SUM(CASE WHEN c.kind = 'ENTERED' THEN 1 ELSE -1 END) FROM membership_changes c"
                f" WHERE {span} AND c.segment_id = segment_counts.segment_id)"
                f" WHERE segment_id IN (SELECT c.segment_id FROM membership_changes c"
                f" WHERE {span})"
            )
    if written.count:
        await broker.publish(
            topic=TOPIC, site_id=w.site_id, payload={"upto": written.last}, connection=w.tx
        )
    return written
