"""Fill a database with benchmark data: a site, companies, members, segments and listings.

    python bench/seed.py --database-url postgres://postgres@127.0.0.1:5432/segments_bench --reset
    python bench/seed.py --database-url sqlite://./data/bench.sqlite3 --members 50000 --reset

Fast on purpose. On PostgreSQL the rows go in with binary COPY (asyncpg
``copy_records_to_table``) on one connection of our own; the big tables (members,
segment_members) have their secondary indexes and constraints dropped for the load
and rebuilt from their own catalog definitions afterwards, in the same transaction,
so the schema the migrations made is exactly what is left. On SQLite the rows go in
with ``executemany``, one transaction per table.

Rows are written in exactly the representation the ORM uses, so that the service
reads them back: on SQLite timestamps are ``datetime.isoformat(" ")`` in UTC
(``2024-01-02 03:04:05.123456+00:00``), enums their value string, JSON compact
orjson text, booleans 0/1; on PostgreSQL timestamptz, jsonb and boolean.

Everything is generated from ``--seed``: the same arguments give the same data (its
timestamps are relative to the time of the run).
Ids are explicit (1..n on a fresh database, after the current maximum otherwise) and
the sequences are moved past them, so that later inserts by the service do not collide.

Importable: ``await seed(url, members=..., ...)`` returns a summary dict. Run again
without ``--reset`` on a site already seeded with the same counts, it does nothing
and says so (``summary["skipped"]``); a site holding other data is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import sqlite3
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from app.db import create_postgres_database, migrate_database, normalize_url
from app.members.models import bucket_of

CHUNK = 100_000
YEAR = 365 * 24 * 3600

Row = tuple[Any, ...]

# Column orders, shared by both backends.
COMPANY_COLUMNS = (
    "id",
    "site_id",
    "external_id",
    "name",
    "plan",
    "attributes",
    "created_at",
    "updated_at",
)
MEMBER_COLUMNS = (
    "id",
    "site_id",
    "external_id",
    "email",
    "name",
    "company_id",
    "attributes",
    "bucket",
    "created_at",
    "updated_at",
)
SEGMENT_COLUMNS = (
    "id",
    "site_id",
    "name",
    "description",
    "type",
    "is_active",
    "starts_at",
    "ends_at",
    "rule",
    "rule_ast",
    "salt",
    "created_at",
    "updated_at",
)
SEGMENT_MEMBER_COLUMNS = (
    "id",
    "site_id",
    "segment_id",
    "member_id",
    "source",
    "added_at",
    "expires_at",
)
SEGMENT_COMPANY_COLUMNS = ("id", "site_id", "segment_id", "company_id", "added_at")
SEGMENT_EXCLUSION_COLUMNS = ("id", "site_id", "segment_id", "member_id", "added_at")

# Tables in load order, with their columns.
TABLES: dict[str, tuple[str, ...]] = {
    "companies": COMPANY_COLUMNS,
    "members": MEMBER_COLUMNS,
    "segments": SEGMENT_COLUMNS,
    "segment_members": SEGMENT_MEMBER_COLUMNS,
    "segment_companies": SEGMENT_COMPANY_COLUMNS,
    "segment_exclusions": SEGMENT_EXCLUSION_COLUMNS,
}
# Loaded with secondary indexes and constraints dropped, then rebuilt (PostgreSQL).
BIG_TABLES = ("members", "segment_members")

TIERS = ("bronze", "silver", "gold", "platinum")
TIER_WEIGHTS = (50, 30, 15, 5)
PLANS = ("free", "pro", "enterprise")
PLAN_WEIGHTS = (60, 30, 10)
COUNTRIES = (
    "US", "DE", "FR", "GB", "NL", "ES", "IT", "SE", "PL", "CA",
    "BR", "JP", "IN", "AU", "CH", "AT", "BE", "DK", "NO", "IE",
)  # fmt: skip
COUNTRY_WEIGHTS = (25, 14, 9, 9, 6, 5, 5, 3, 3, 4, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1)
TAGS = (
    "vip", "newsletter", "churn-risk", "early-adopter", "mobile", "desktop",
    "trial", "partner", "beta-tester", "support-heavy", "referrer", "reseller",
)  # fmt: skip
FIRST_NAMES = (
    "Ada", "Alan", "Grace", "Linus", "Margaret", "Dennis", "Barbara", "Ken",
    "Frances", "Edsger", "Radia", "Tim", "Hedy", "Donald", "Sophie", "John",
    "Katherine", "Guido", "Anita", "Bjarne", "Mary", "Niklaus", "Lena", "Yukihiro",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Turing", "Hopper", "Torvalds", "Hamilton", "Ritchie", "Liskov",
    "Thompson", "Allen", "Dijkstra", "Perlman", "Berners-Lee", "Lamarr", "Knuth",
    "Wilson", "McCarthy", "Johnson", "van Rossum", "Borg", "Stroustrup", "Keller",
    "Wirth", "Müller", "Matsumoto",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "mail.test", "acme.io", "globex.dev", "initech.net")
DOMAIN_WEIGHTS = (40, 15, 15, 10, 10, 10)
INDUSTRIES = (
    "software", "retail", "finance", "health", "education", "logistics",
    "media", "manufacturing", "travel", "energy",
)  # fmt: skip
COMPANY_WORDS = (
    "Blue", "Harbor", "Northwind", "Vertex", "Quantum", "Summit", "Pioneer", "Cedar",
    "Atlas", "Nimbus", "Orbit", "Falcon", "Granite", "Maple", "Aurora", "Delta",
)  # fmt: skip
COMPANY_SUFFIXES = ("Ltd", "GmbH", "Inc", "LLC", "SA", "BV", "AB", "Co")


class SeedError(Exception):
    """The seeder cannot do what was asked (bad arguments, a database holding other data)."""


@dataclass(frozen=True)
class Plan:
    members: int
    companies: int
    segments: int
    dynamic: int
    memberships: int
    site: str
    seed: int

    @property
    def member_width(self) -> int:
        return max(7, len(str(self.members)))

    @property
    def company_width(self) -> int:
        return max(6, len(str(self.companies)))

    @property
    def segment_width(self) -> int:
        return max(4, len(str(self.segments)))


def member_external_id(i: int, members: int = 1_000_000) -> str:
    """The external id of the i-th member (1-based) of a seed of ``members`` members."""
    return f"m{i:0{max(7, len(str(members)))}d}"


def company_external_id(i: int, companies: int = 10_000) -> str:
    return f"c{i:0{max(6, len(str(companies)))}d}"


def segment_name(i: int, segments: int = 1_000) -> str:
    return f"segment-{i:0{max(4, len(str(segments)))}d}"


# --------------------------------------------------------------------------- generation


@dataclass(frozen=True)
class Dialect:
    """How values are written: PostgreSQL takes Python objects, SQLite the ORM's text."""

    name: str
    ts: Callable[[datetime], Any]
    boolean: Callable[[bool], Any]


def _sqlite_ts(value: datetime) -> str:
    # exactly what Tortoise's sqlite adapter writes: datetime.isoformat(" ")
    return value.isoformat(" ")


POSTGRES = Dialect("postgres", ts=lambda v: v, boolean=lambda v: v)
SQLITE = Dialect("sqlite", ts=_sqlite_ts, boolean=int)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _rng(plan: Plan, stream: int) -> random.Random:
    """An independent, reproducible random stream per table."""
    return random.Random(plan.seed * 1_000_003 + stream)


@dataclass(frozen=True)
class Ids:
    """Where each table's new ids start (exclusive): 0 on a fresh database."""

    companies: int = 0
    members: int = 0
    segments: int = 0
    segment_members: int = 0
    segment_companies: int = 0
    segment_exclusions: int = 0


def company_rows(
    plan: Plan, site_id: int, ids: Ids, now: datetime, d: Dialect
) -> Iterator[list[Row]]:
    rng = _rng(plan, 1)
    width = plan.company_width
    start = now.timestamp() - 3 * YEAR
    for base in range(0, plan.companies, CHUNK):
        k = min(CHUNK, plan.companies - base)
        plans = rng.choices(PLANS, weights=PLAN_WEIGHTS, k=k)
        rows: list[Row] = []
        for j in range(k):
            i = base + j + 1
            created = start + rng.random() * 3 * YEAR
            updated = created + rng.random() * (now.timestamp() - created)
            name = (
                f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)} "
                f"{rng.choice(COMPANY_SUFFIXES)} {i}"
            )
            attributes = {
                "industry": rng.choice(INDUSTRIES),
                "size": int(rng.paretovariate(1.1) * 5),
            }
            rows.append(
                (
                    ids.companies + i,
                    site_id,
                    f"c{i:0{width}d}",
                    name,
                    plans[j],
                    _json(attributes),
                    d.ts(datetime.fromtimestamp(created, UTC)),
                    d.ts(datetime.fromtimestamp(updated, UTC)),
                )
            )
        yield rows


def member_rows(
    plan: Plan, site_id: int, ids: Ids, now: datetime, d: Dialect
) -> Iterator[list[Row]]:
    """Members, a chunk at a time: ~90 % in a company (skewed: a few big ones)."""
    rng = _rng(plan, 2)
    width = plan.member_width
    end = now.timestamp()
    start = end - 3 * YEAR
    tag_sets = [
        sorted(rng.sample(TAGS, n)) for n in (0, 0, 0, 1, 1, 1, 1, 2, 2, 3) for _ in range(20)
    ]
    countries: list[str | None] = [*COUNTRIES, None]  # None: no country known (~3 %)
    country_weights = [*COUNTRY_WEIGHTS, 3]
    n_companies = plan.companies
    for base in range(0, plan.members, CHUNK):
        k = min(CHUNK, plan.members - base)
        firsts = rng.choices(FIRST_NAMES, k=k)
        lasts = rng.choices(LAST_NAMES, k=k)
        domains = rng.choices(DOMAINS, weights=DOMAIN_WEIGHTS, k=k)
        tiers = rng.choices(TIERS, weights=TIER_WEIGHTS, k=k)
        plans = rng.choices(PLANS, weights=PLAN_WEIGHTS, k=k)
        ctry = rng.choices(countries, weights=country_weights, k=k)
        tags = rng.choices(tag_sets, k=k)
        rnd = rng.random
        rows: list[Row] = []
        for j in range(k):
            i = base + j + 1
            ext = f"m{i:0{width}d}"
            first, last = firsts[j], lasts[j]
            r = rnd()
            email = None if r < 0.02 else f"{first}.{last}{i}@{domains[j]}".lower().replace(" ", "")
            name = None if r > 0.99 else f"{first} {last}"
            company_id = (
                None
                if n_companies == 0 or rnd() < 0.1
                else ids.companies + 1 + int(n_companies * rnd() ** 2)
            )
            created = start + rnd() * 3 * YEAR
            updated = created + rnd() * (end - created)
            created_dt = datetime.fromtimestamp(created, UTC)
            attributes: dict[str, Any] = {
                "tier": tiers[j],
                "points": int(rng.expovariate(1 / 1500)),
                "plan": plans[j],
                "signup_date": created_dt.date().isoformat(),
                "beta": rnd() < 0.2,
                "score": round(rnd() * 100, 2),
            }
            if ctry[j] is not None:
                attributes["country"] = ctry[j]
            if rnd() < 0.9:
                attributes["tags"] = tags[j]
            rows.append(
                (
                    ids.members + i,
                    site_id,
                    ext,
                    email,
                    name,
                    company_id,
                    _json(attributes),
                    bucket_of(ext),
                    d.ts(created_dt),
                    d.ts(datetime.fromtimestamp(updated, UTC)),
                )
            )
        yield rows


RULE_TESTS: tuple[Callable[[random.Random], str], ...] = (
    lambda r: "attributes.tier IN ('gold', 'platinum')",
    lambda r: f"attributes.tier = '{r.choice(TIERS)}'",
    lambda r: f"attributes.tier != '{r.choice(TIERS)}'",
    lambda r: f"attributes.points >= {r.choice((100, 500, 1000, 2500, 5000))}",
    lambda r: f"attributes.points < {r.choice((200, 1000, 3000))}",
    lambda r: f"attributes.points BETWEEN {r.choice((0, 500, 1000))} AND {r.choice((2000, 8000))}",
    lambda r: f"attributes.country = '{r.choice(COUNTRIES[:8])}'",
    lambda r: "attributes.country IN ({})".format(
        ", ".join(f"'{c}'" for c in r.sample(COUNTRIES, 3))
    ),
    lambda r: f"attributes.country NOT IN ('{r.choice(COUNTRIES)}')",
    lambda r: "attributes.country IS NOT NULL",
    lambda r: f"attributes.plan = '{r.choice(PLANS)}'",
    lambda r: "attributes.plan != 'free'",
    lambda r: f"attributes.beta = {r.choice(('true', 'false'))}",
    lambda r: f"attributes.score > {r.choice((10, 25, 50, 75.5))}",
    lambda r: f"attributes.tags CONTAINS '{r.choice(TAGS)}'",
    lambda r: f"attributes.signup_date >= '{r.choice(('2024-01-01', '2025-01-01', '2025-06-30'))}'",
    lambda r: f"email ENDS WITH '@{r.choice(DOMAINS)}'",
    lambda r: f"company.plan = '{r.choice(PLANS)}'",
    lambda r: f"company.attributes.industry = '{r.choice(INDUSTRIES)}'",
    lambda r: f"created_at >= days_ago({r.choice((30, 90, 365, 730))})",
    lambda r: f"percent({r.choice((5, 10, 20, 50))})",
    lambda r: f"NOT attributes.country = '{r.choice(COUNTRIES[:4])}'",
    lambda r: f"name STARTS WITH '{r.choice(FIRST_NAMES)}'",
)


def make_rule(rng: random.Random, static_names: Sequence[str]) -> str:
    """A rule of 3 to 6 tests: mostly ANDs, sometimes an OR group, rarely an in_segment()."""
    n = rng.randint(3, 6)
    tests = [t(rng) for t in rng.sample(RULE_TESTS, n)]
    if static_names and rng.random() < 0.1:
        tests[-1] = f"in_segment('{rng.choice(static_names)}')"
    if rng.random() < 0.3:
        tests[:2] = [f"({tests[0]} OR {tests[1]})"]
    return " AND ".join(tests)


@dataclass
class SegmentPlan:
    """What the segments will be, decided once so that both backends and the summary agree."""

    rows: list[Row]
    # (segment id, listed size) of the STATIC segments, in id order
    sizes: list[tuple[int, int]]
    names: dict[int, str]
    dynamic_ids: list[int]


def segment_sizes(total: int, n: int, cap: int, rng: random.Random) -> list[int]:
    """Split ``total`` over ``n`` segments, Zipf-like (a few of 100k+, many small), each ≤ cap."""
    if n == 0 or cap == 0:
        return [0] * n
    total = min(total, n * cap)
    weights = [1.0 / (rank + 1) for rank in range(n)]
    sizes = [0] * n
    remaining, open_ranks = total, list(range(n))
    while remaining > 0 and open_ranks:
        w = sum(weights[r] for r in open_ranks)
        still_open = []
        given = 0
        for r in open_ranks:
            share = int(remaining * weights[r] / w)
            add = min(share, cap - sizes[r])
            sizes[r] += add
            given += add
            if sizes[r] < cap:
                still_open.append(r)
        remaining -= given
        open_ranks = still_open
        if given == 0:  # rounding leftovers: one each to the largest open segments
            for r in open_ranks[:remaining]:
                sizes[r] += 1
            remaining -= min(remaining, len(open_ranks))
    order = list(range(n))
    rng.shuffle(order)
    return [sizes[order[i]] for i in range(n)]


def plan_segments(plan: Plan, site_id: int, ids: Ids, now: datetime, d: Dialect) -> SegmentPlan:
    rng = _rng(plan, 3)
    n = plan.segments
    dynamic = set(rng.sample(range(n), min(plan.dynamic, n)))
    static_idx = [i for i in range(n) if i not in dynamic]
    sizes = segment_sizes(plan.memberships, len(static_idx), plan.members, rng)
    size_of = dict(zip(static_idx, sizes, strict=True))
    # the five largest stay plainly active, so lookups always have big live segments
    largest = set(sorted(size_of, key=lambda i: -size_of[i])[:5])
    width = plan.segment_width
    names = {ids.segments + i + 1: f"segment-{i + 1:0{width}d}" for i in range(n)}
    static_names = [names[ids.segments + i + 1] for i in static_idx]
    rows: list[Row] = []
    for i in range(n):
        seg_id = ids.segments + i + 1
        created = now - timedelta(seconds=rng.random() * 3 * YEAR)
        updated = created + (now - created) * rng.random()
        is_active = True
        starts_at = ends_at = None
        if i not in largest:
            r = rng.random()
            if r < 0.1:
                is_active = False
            elif r < 0.14:  # a current window
                starts_at, ends_at = now - timedelta(days=30), now + timedelta(days=60)
            elif r < 0.17:  # not started yet
                starts_at, ends_at = now + timedelta(days=10), now + timedelta(days=40)
            elif r < 0.20:  # over
                starts_at, ends_at = now - timedelta(days=90), now - timedelta(days=10)
            elif r < 0.22:  # open-ended
                starts_at = now - timedelta(days=rng.randint(1, 300))
        rule = None
        kind = "STATIC"
        if i in dynamic:
            kind = "DYNAMIC"
            rule = make_rule(rng, static_names)
        elif rng.random() < 0.05:  # a STATIC segment may carry an eligibility rule
            rule = make_rule(rng, [])
        description = None if rng.random() < 0.3 else f"Benchmark segment {i + 1} ({kind.lower()})"
        rows.append(
            (
                seg_id,
                site_id,
                names[seg_id],
                description,
                kind,
                d.boolean(is_active),
                None if starts_at is None else d.ts(starts_at),
                None if ends_at is None else d.ts(ends_at),
                rule,
                None,  # rule_ast: parsed by the service when NULL
                rng.randint(0, 9999),
                d.ts(created),
                d.ts(updated),
            )
        )
    return SegmentPlan(
        rows=rows,
        sizes=[(ids.segments + i + 1, size_of[i]) for i in static_idx],
        names=names,
        dynamic_ids=sorted(ids.segments + i + 1 for i in dynamic),
    )


def membership_rows(
    plan: Plan, site_id: int, ids: Ids, segs: SegmentPlan, now: datetime, d: Dialect
) -> Iterator[list[Row]]:
    """Listed members of the STATIC segments: unique per segment, ~5 % with an expiry."""
    rng = _rng(plan, 4)
    added_pool = [d.ts(now - timedelta(seconds=rng.random() * 2 * YEAR)) for _ in range(4096)]
    expiry_pool: list[Any] = [None] * 950
    expiry_pool += [d.ts(now - timedelta(days=rng.randint(1, 300))) for _ in range(25)]
    expiry_pool += [d.ts(now + timedelta(days=rng.randint(1, 300))) for _ in range(25)]
    next_id = ids.segment_members + 1
    member_base = ids.members + 1
    population = range(plan.members)
    source = "MANUAL"
    for seg_id, size in segs.sizes:
        if size == 0:
            continue
        picked = sorted(rng.sample(population, size))  # in index order: cheaper to load
        for lo in range(0, size, CHUNK):
            part = picked[lo : lo + CHUNK]
            k = len(part)
            yield list(
                zip(
                    range(next_id, next_id + k),
                    itertools.repeat(site_id, k),
                    itertools.repeat(seg_id, k),
                    [member_base + m for m in part],
                    itertools.repeat(source, k),
                    rng.choices(added_pool, k=k),
                    rng.choices(expiry_pool, k=k),
                    strict=True,
                )
            )
            next_id += k


def segment_company_rows(
    plan: Plan, site_id: int, ids: Ids, segs: SegmentPlan, now: datetime, d: Dialect
) -> list[Row]:
    """A few listed companies: ~3 % of the segments list 1 to 10 companies each."""
    rng = _rng(plan, 5)
    rows: list[Row] = []
    if plan.companies == 0:
        return rows
    for seg_id in sorted(segs.names):
        if rng.random() >= 0.03:
            continue
        for c in sorted(rng.sample(range(plan.companies), min(plan.companies, rng.randint(1, 10)))):
            added = d.ts(now - timedelta(seconds=rng.random() * YEAR))
            rows.append(
                (
                    ids.segment_companies + len(rows) + 1,
                    site_id,
                    seg_id,
                    ids.companies + c + 1,
                    added,
                )
            )
    return rows


def segment_exclusion_rows(
    plan: Plan, site_id: int, ids: Ids, segs: SegmentPlan, now: datetime, d: Dialect
) -> list[Row]:
    """A few exclusions: ~5 % of the segments exclude 1 to 100 members each."""
    rng = _rng(plan, 6)
    rows: list[Row] = []
    if plan.members == 0:
        return rows
    for seg_id in sorted(segs.names):
        if rng.random() >= 0.05:
            continue
        for m in sorted(rng.sample(range(plan.members), min(plan.members, rng.randint(1, 100)))):
            added = d.ts(now - timedelta(seconds=rng.random() * YEAR))
            rows.append(
                (
                    ids.segment_exclusions + len(rows) + 1,
                    site_id,
                    seg_id,
                    ids.members + m + 1,
                    added,
                )
            )
    return rows


# --------------------------------------------------------------------------- reporting


class Report:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.started = time.perf_counter()

    def step(self, name: str, seconds: float, rows: int | None = None) -> None:
        self.timings[name] = round(seconds, 3)
        if rows is not None:
            self.counts[name] = rows
        if not self.quiet:
            rate = f"  {rows / seconds:>12,.0f} rows/s" if rows and seconds > 0 else ""
            count = f"{rows:>12,} rows" if rows is not None else " " * 17
            print(f"  {name:<32}{count}  {seconds:8.2f} s{rate}", flush=True)

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, flush=True)

    @property
    def total(self) -> float:
        return time.perf_counter() - self.started


class Timer:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def lap(self) -> float:
        t1 = time.perf_counter()
        elapsed, self.t0 = t1 - self.t0, t1
        return elapsed


# --------------------------------------------------------------------------- PostgreSQL

# for the summary of a site seeded before
LARGEST_SQL = """SELECT s.id, s.name, count(*) AS size FROM segment_members m
    JOIN segments s ON s.id = m.segment_id WHERE m.site_id = $1
    GROUP BY s.id, s.name ORDER BY size DESC, s.id LIMIT 10"""
DYNAMIC_SQL = "SELECT id FROM segments WHERE site_id = $1 AND type = 'DYNAMIC' ORDER BY id"


def _sqlite_sql(text: str) -> str:
    return text.replace("$1", "?")


def pg_dsn(database_url: str) -> str:
    """An asyncpg DSN from the service's URL (without Tortoise's pool parameters)."""
    url = normalize_url(database_url)
    base, _, query = url.partition("?")
    tortoise_only = {"minsize", "maxsize", "max_inactive_connection_lifetime", "schema"}
    kept = [p for p in query.split("&") if p and p.split("=", 1)[0] not in tortoise_only]
    base = base.replace("postgres://", "postgresql://", 1)
    return base + ("?" + "&".join(kept) if kept else "")


def _pg_name(database_url: str) -> tuple[str, str]:
    """(admin DSN on the ``postgres`` database, database name)."""
    dsn = pg_dsn(database_url)
    base, _, query = dsn.partition("?")
    server, _, name = base.rpartition("/")
    return server + "/postgres" + ("?" + query if query else ""), name


async def drop_postgres_database(database_url: str) -> None:
    import asyncpg

    admin_dsn, name = _pg_name(database_url)
    if name in {"postgres", "template0", "template1", ""}:
        raise SeedError(f"refusing to drop the database {name!r}")
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def _pg_without_secondary(conn: Any, table: str) -> list[str]:
    """Drop the table's FK and UNIQUE constraints and plain indexes; return the SQL to restore."""
    constraints = await conn.fetch(
        """SELECT conname, contype, pg_get_constraintdef(oid) AS def FROM pg_constraint
           WHERE conrelid = $1::regclass AND contype IN ('u', 'f')
           ORDER BY contype DESC, conname""",
        table,
    )
    indexes = await conn.fetch(
        """SELECT i.relname AS name, pg_get_indexdef(i.oid) AS def
           FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
           WHERE x.indrelid = $1::regclass AND NOT x.indisprimary
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid
                             AND c.conrelid = x.indrelid)
           ORDER BY i.relname""",
        table,
    )
    restore: list[str] = []
    for c in constraints:
        await conn.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{c["conname"]}"')
    for i in indexes:
        await conn.execute(f'DROP INDEX "{i["name"]}"')
        restore.append(i["def"])
    # unique constraints ('u') first, so that FKs ('f') come last
    for c in sorted(constraints, key=lambda c: c["contype"] != "u"):
        restore.append(f'ALTER TABLE "{table}" ADD CONSTRAINT "{c["conname"]}" {c["def"]}')
    return restore


async def _pg_copy(
    conn: Any, table: str, chunks: Iterable[list[Row]], report: Report, *, rebuild: bool
) -> int:
    counter = [0]

    def rows() -> Iterator[Row]:
        for chunk in chunks:
            counter[0] += len(chunk)
            yield from chunk

    timer = Timer()
    async with conn.transaction():
        restore = await _pg_without_secondary(conn, table) if rebuild else []
        await conn.copy_records_to_table(table, records=rows(), columns=list(TABLES[table]))
        report.step(table, timer.lap(), counter[0])
        for statement in restore:
            await conn.execute(statement)
        if restore:
            report.step(f"{table} (indexes, keys)", timer.lap())
    return counter[0]


async def _pg_site(conn: Any, slug: str) -> tuple[int, bool]:
    row = await conn.fetchrow("SELECT id FROM sites WHERE slug = $1", slug)
    if row is not None:
        return int(row["id"]), False
    site_id = await conn.fetchval(
        "INSERT INTO sites (slug, name, created_at) VALUES ($1, $2, now()) RETURNING id",
        slug,
        slug.replace("-", " ").title(),
    )
    return int(site_id), True


async def _pg_ids(conn: Any) -> Ids:
    values = {
        t: int(await conn.fetchval(f'SELECT coalesce(max(id), 0) FROM "{t}"')) for t in TABLES
    }
    return Ids(**values)


async def _pg_site_counts(conn: Any, site_id: int) -> dict[str, int]:
    return {
        t: int(await conn.fetchval(f'SELECT count(*) FROM "{t}" WHERE site_id = $1', site_id))
        for t in TABLES
    }


async def _pg_described(conn: Any, site_id: int) -> tuple[list[dict[str, Any]], list[int]]:
    largest = await conn.fetch(LARGEST_SQL, site_id)
    dynamic = await conn.fetch(DYNAMIC_SQL, site_id)
    return (
        [{"id": int(r["id"]), "name": r["name"], "size": int(r["size"])} for r in largest],
        [int(r["id"]) for r in dynamic],
    )


async def _seed_postgres(url: str, plan: Plan, reset: bool, report: Report) -> dict[str, Any]:
    import asyncpg

    timer = Timer()
    if reset:
        await drop_postgres_database(url)
    await create_postgres_database(url)
    await migrate_database(url)
    report.step("database, migrations", timer.lap())

    conn = await asyncpg.connect(pg_dsn(url))
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '512MB'")
        site_id, _ = await _pg_site(conn, plan.site)
        existing = await _pg_site_counts(conn, site_id)
        if any(existing.values()):
            largest, dynamic_ids = await _pg_described(conn, site_id)
            return _check_existing(plan, site_id, existing, report, largest, dynamic_ids)
        ids = await _pg_ids(conn)
        now = datetime.now(UTC)
        d = POSTGRES
        report.step("site", timer.lap())

        companies = company_rows(plan, site_id, ids, now, d)
        await _pg_copy(conn, "companies", companies, report, rebuild=False)
        await _pg_copy(
            conn, "members", member_rows(plan, site_id, ids, now, d), report, rebuild=True
        )
        segs = plan_segments(plan, site_id, ids, now, d)
        await _pg_copy(conn, "segments", [segs.rows], report, rebuild=False)
        await _pg_copy(
            conn,
            "segment_members",
            membership_rows(plan, site_id, ids, segs, now, d),
            report,
            rebuild=True,
        )
        await _pg_copy(
            conn,
            "segment_companies",
            [segment_company_rows(plan, site_id, ids, segs, now, d)],
            report,
            rebuild=False,
        )
        await _pg_copy(
            conn,
            "segment_exclusions",
            [segment_exclusion_rows(plan, site_id, ids, segs, now, d)],
            report,
            rebuild=False,
        )
        timer.lap()
        for table in TABLES:
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f'(SELECT greatest(coalesce(max(id), 0), 1) FROM "{table}"))'
            )
        report.step("sequences", timer.lap())
        await conn.execute("VACUUM ANALYZE")
        report.step("VACUUM ANALYZE", timer.lap())
    finally:
        await conn.close()
    return _summary(plan, site_id, report, segs, skipped=False)


# --------------------------------------------------------------------------- SQLite


def sqlite_path(database_url: str) -> str:
    path = database_url.removeprefix("sqlite://").split("?", 1)[0]
    if not path or path == ":memory:":
        raise SeedError("an in-memory SQLite database cannot be seeded for another process")
    return path


def _scalar(db: sqlite3.Connection, query: str, *params: Any) -> int:
    return int(db.execute(query, params).fetchone()[0])


def _sqlite_insert(
    db: sqlite3.Connection, table: str, chunks: Iterable[list[Row]], report: Report
) -> int:
    columns = TABLES[table]
    statement = (
        f'INSERT INTO "{table}" ({", ".join(columns)}) VALUES ({", ".join("?" * len(columns))})'
    )
    timer = Timer()
    count = 0
    with db:  # one transaction per table
        for chunk in chunks:
            db.executemany(statement, chunk)
            count += len(chunk)
    report.step(table, timer.lap(), count)
    return count


def _seed_sqlite_sync(path: str, plan: Plan, report: Report) -> dict[str, Any]:
    timer = Timer()
    db = sqlite3.connect(path, isolation_level="DEFERRED")
    try:
        db.execute("PRAGMA synchronous = OFF")
        db.execute("PRAGMA cache_size = -262144")  # 256 MB
        db.execute("PRAGMA temp_store = MEMORY")
        row = db.execute("SELECT id FROM sites WHERE slug = ?", (plan.site,)).fetchone()
        if row is None:
            with db:
                cur = db.execute(
                    "INSERT INTO sites (slug, name, created_at) VALUES (?, ?, ?)",
                    (plan.site, plan.site.replace("-", " ").title(), _sqlite_ts(datetime.now(UTC))),
                )
            site_id = int(cur.lastrowid or 0)
        else:
            site_id = int(row[0])
        existing = {
            t: _scalar(db, f'SELECT count(*) FROM "{t}" WHERE site_id = ?', site_id) for t in TABLES
        }
        if any(existing.values()):
            largest = [
                {"id": int(r[0]), "name": r[1], "size": int(r[2])}
                for r in db.execute(_sqlite_sql(LARGEST_SQL), (site_id,))
            ]
            dynamic_ids = [int(r[0]) for r in db.execute(_sqlite_sql(DYNAMIC_SQL), (site_id,))]
            return _check_existing(plan, site_id, existing, report, largest, dynamic_ids)
        ids = Ids(**{t: _scalar(db, f'SELECT coalesce(max(id), 0) FROM "{t}"') for t in TABLES})
        now = datetime.now(UTC)
        d = SQLITE
        report.step("site", timer.lap())
        _sqlite_insert(db, "companies", company_rows(plan, site_id, ids, now, d), report)
        _sqlite_insert(db, "members", member_rows(plan, site_id, ids, now, d), report)
        segs = plan_segments(plan, site_id, ids, now, d)
        _sqlite_insert(db, "segments", [segs.rows], report)
        _sqlite_insert(
            db, "segment_members", membership_rows(plan, site_id, ids, segs, now, d), report
        )
        _sqlite_insert(
            db,
            "segment_companies",
            [segment_company_rows(plan, site_id, ids, segs, now, d)],
            report,
        )
        _sqlite_insert(
            db,
            "segment_exclusions",
            [segment_exclusion_rows(plan, site_id, ids, segs, now, d)],
            report,
        )
        timer.lap()
        db.execute("ANALYZE")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        report.step("ANALYZE", timer.lap())
    finally:
        db.close()
    return _summary(plan, site_id, report, segs, skipped=False)


def _delete_sqlite(path: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(path + suffix).unlink(missing_ok=True)


async def _seed_sqlite(url: str, plan: Plan, reset: bool, report: Report) -> dict[str, Any]:
    path = sqlite_path(url)
    timer = Timer()
    if reset:
        await asyncio.to_thread(_delete_sqlite, path)
    await migrate_database(url)
    report.step("database, migrations", timer.lap())
    return await asyncio.to_thread(_seed_sqlite_sync, path, plan, report)


# --------------------------------------------------------------------------- summary


def _summary(
    plan: Plan, site_id: int, report: Report, segs: SegmentPlan, *, skipped: bool
) -> dict[str, Any]:
    largest = sorted(segs.sizes, key=lambda s: (-s[1], s[0]))[:10]
    counts = {t: report.counts.get(t, 0) for t in TABLES}
    return {
        "site": plan.site,
        "site_id": site_id,
        "skipped": skipped,
        "counts": counts,
        "timings": dict(report.timings),
        "total_seconds": round(report.total, 3),
        "largest_segments": [{"id": i, "name": segs.names[i], "size": n} for i, n in largest],
        "dynamic_segment_ids": segs.dynamic_ids,
        "member_id_width": plan.member_width,
        "company_id_width": plan.company_width,
        "plan": plan.__dict__,
    }


def _check_existing(
    plan: Plan,
    site_id: int,
    existing: dict[str, int],
    report: Report,
    largest: list[dict[str, Any]],
    dynamic_ids: list[int],
) -> dict[str, Any]:
    wanted = {
        "companies": plan.companies,
        "members": plan.members,
        "segments": plan.segments,
        # fewer when (static segments x members) caps the ask
        "segment_members": min(plan.memberships, (plan.segments - plan.dynamic) * plan.members),
    }
    mismatched = {t: (existing[t], n) for t, n in wanted.items() if existing[t] != n}
    if mismatched:
        detail = ", ".join(
            f"{t}: has {have:,}, asked {want:,}" for t, (have, want) in mismatched.items()
        )
        raise SeedError(
            f"site {plan.site!r} already holds other data ({detail}); use --reset or another --site"
        )
    report.say(f"site {plan.site!r} is already seeded with these counts: nothing to do")
    return {
        "site": plan.site,
        "site_id": site_id,
        "skipped": True,
        "counts": existing,
        "timings": dict(report.timings),
        "total_seconds": round(report.total, 3),
        "largest_segments": largest,
        "dynamic_segment_ids": dynamic_ids,
        "member_id_width": plan.member_width,
        "company_id_width": plan.company_width,
        "plan": plan.__dict__,
    }


# --------------------------------------------------------------------------- entry points


async def seed(
    database_url: str,
    *,
    members: int = 1_000_000,
    companies: int = 10_000,
    segments: int = 1_000,
    dynamic: int = 100,
    memberships: int = 5_000_000,
    site: str = "bench",
    seed: int = 42,
    reset: bool = False,
    quiet: bool = False,
) -> dict[str, Any]:
    """Seed the database; returns a summary: counts, timings (s), largest segments, ids."""
    for name, value in (
        ("members", members),
        ("companies", companies),
        ("segments", segments),
        ("dynamic", dynamic),
        ("memberships", memberships),
    ):
        if value < 0:
            raise SeedError(f"--{name} must be >= 0")
    if dynamic > segments:
        raise SeedError("--dynamic cannot exceed --segments")
    plan = Plan(members, companies, segments, dynamic, memberships, site, seed)
    report = Report(quiet)
    url = normalize_url(database_url)
    report.say(
        f"seeding {_redact(database_url)} site {site!r}: {members:,} members, "
        f"{companies:,} companies, {segments:,} segments ({dynamic:,} dynamic), "
        f"{memberships:,} memberships, seed {seed}"
    )
    if url.startswith("postgres://"):
        summary = await _seed_postgres(url, plan, reset, report)
    elif url.startswith("sqlite://"):
        summary = await _seed_sqlite(url, plan, reset, report)
    else:
        raise SeedError(f"unsupported database URL {url!r}")
    summary["database_url"] = database_url
    summary["total_seconds"] = round(report.total, 3)
    if not quiet:
        rows = sum(summary["counts"].values())
        print(f"  {'total':<32}{rows:>12,} rows  {report.total:8.2f} s", flush=True)
        if summary["largest_segments"]:
            top = ", ".join(f"{s['name']}={s['size']:,}" for s in summary["largest_segments"][:5])
            print(f"  largest segments: {top}", flush=True)
    return summary


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":", 1)[0]
        rest = f"{user}:***@{host}" if ":" in credentials else f"{user}@{host}"
    return scheme + sep + rest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="postgres://... or sqlite://path (default: $DATABASE_URL)",
    )
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--companies", type=int, default=10_000)
    parser.add_argument("--segments", type=int, default=1_000)
    parser.add_argument("--dynamic", type=int, default=100, help="how many segments are DYNAMIC")
    parser.add_argument("--memberships", type=int, default=5_000_000, help="listed memberships")
    parser.add_argument("--site", default="bench", help="the site's slug")
    parser.add_argument("--seed", type=int, default=42, help="random seed")
    parser.add_argument("--reset", action="store_true", help="drop and recreate the database first")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("--database-url (or DATABASE_URL) is required")
    try:
        asyncio.run(
            seed(
                args.database_url,
                members=args.members,
                companies=args.companies,
                segments=args.segments,
                dynamic=args.dynamic,
                memberships=args.memberships,
                site=args.site,
                seed=args.seed,
                reset=args.reset,
                quiet=args.quiet,
            )
        )
    except SeedError as exc:
        print(f"seed: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
