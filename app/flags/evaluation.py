"""Flag evaluation for one member: two statements whatever the number of flags and segments
(the flags with their live targets; the member with all its ties), then Python."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from app.flags.service import live_targets
from app.lookups import service as lookups


@dataclass(frozen=True, slots=True)
class Evaluation:
    key: str
    enabled: bool
    matched_segment_pks: list[int] = field(default_factory=list)


async def evaluate_flags(
    *, site_id: int, member_id: str, keys: Sequence[str] | None = None
) -> list[Evaluation]:
    """Each flag (in key order), or each key asked (in that order; an unknown key is off):
    on when the flag is enabled and the member is an effective member of a live target."""
    flags = await live_targets(site_id=site_id, keys=keys)
    lookup = await lookups.load(site_id=site_id, external_ids=[member_id])
    membership = lookup.membership(member_id)
    found: dict[str, Evaluation] = {}
    for flag in flags:
        matched = [
            pk
            for pk in flag.segment_pks
            if membership is not None
            and pk in lookup.cat.by_pk
            and membership.counts(lookup.cat.by_pk[pk], include_inactive=False)
        ]
        found[flag.key] = Evaluation(flag.key, flag.enabled and bool(matched), matched)
    if keys is None:
        return list(found.values())
    return [found.get(key, Evaluation(key, False)) for key in keys]
