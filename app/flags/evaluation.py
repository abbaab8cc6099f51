"""Flag evaluation for one member: one statement whatever the number of flags and segments
(the member with all its ties, the site's flags with their targets, as one lookup), then
Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.lookups import service as lookups
from app.status import SegmentStatus


@dataclass(frozen=True, slots=True)
class Evaluation:
    key: str
    enabled: bool
    matched_segment_pks: list[int] = field(default_factory=list)


def _flags(keys: Sequence[str] | None) -> lookups.Also:
    """The lookup's arm reading the site's flags (those of ``keys``), each with its target
    segments, in key then segment order (a row number, ``mid``): kind F (enabled) or D."""
    where = ""
    if keys is not None:  # $1 is the site, $2 the member: the lookup's
        where = " AND f.key IN (" + ", ".join(f"${i + 3}" for i in range(len(keys))) + ")"

    def arm(pad: str) -> str:
        return (
            "SELECT CASE WHEN f.enabled THEN 'F' ELSE 'D' END, NULL, NULL, NULL,"
            f" f.key{pad}, row_number() OVER (ORDER BY f.key, fs.segment_id),"
            " fs.segment_id, NULL FROM feature_flags f"
            " LEFT JOIN flag_segments fs ON fs.flag_id = f.id AND fs.site_id = $1"
            f" WHERE f.site_id = $1{where}"
        )

    return lookups.Also(arm, list(keys or ()))


async def evaluate_flags(
    *, site_id: int, member_id: str, keys: Sequence[str] | None = None
) -> list[Evaluation]:
    """Each flag (in key order), or each key asked (in that order; an unknown key is off):
    on when the flag is enabled and the member is an effective member of a live target."""
    wanted = None if keys is None else list(dict.fromkeys(keys))
    if wanted == []:
        return []
    now = datetime.now(UTC)
    lookup = await lookups.load(
        site_id=site_id, external_ids=[member_id], now=now, also=_flags(wanted)
    )
    membership = lookup.membership(member_id)
    found: dict[str, Evaluation] = {}
    for row in sorted(lookup.also, key=lambda r: int(r["mid"])):
        key = row["external_id"]
        flag = found.get(key)
        if flag is None:
            flag = found[key] = Evaluation(key, row["k"] == "F", [])
        segment = lookup.cat.by_pk.get(int(row["seg"])) if row["seg"] is not None else None
        # a live target (ACTIVE now) the member is in
        if (
            segment is not None
            and membership is not None
            and segment.status(now) is SegmentStatus.ACTIVE
            and membership.counts(segment, include_inactive=False)
        ):
            flag.matched_segment_pks.append(segment.pk)
    evaluations = [
        Evaluation(f.key, f.enabled and bool(f.matched_segment_pks), f.matched_segment_pks)
        for f in found.values()
    ]
    if keys is None:
        return evaluations
    by_key = {e.key: e for e in evaluations}
    return [by_key.get(key, Evaluation(key, False)) for key in keys]
