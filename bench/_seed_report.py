"""Progress lines of a seeding run: rows, seconds, rows per second."""

from __future__ import annotations

import time
from typing import Any

from _seed_data import SegmentPlan
from _seed_model import TABLES, Plan, SeedError


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
