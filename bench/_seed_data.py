"""The seed's data: members, companies, segments and listings, generated from one
random seed, the same on both backends."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from _seed_model import (
    CHUNK,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    DOMAIN_WEIGHTS,
    DOMAINS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    PLAN_WEIGHTS,
    PLANS,
    TAGS,
    TIER_WEIGHTS,
    TIERS,
    YEAR,
    Plan,
    Row,
)

from app.members.models import bucket_of


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
