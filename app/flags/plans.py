"""evaluateFlags as a root field the plans for hot documents answer (app.lookups.plans).

On a site that keeps its rule matches the plan reads, in one statement, the member's
effective segments as memberSegments reads them and the site's flags (those asked) with their
targets, as one array of that row; a flag is on when it is enabled and one of its targets
is ACTIVE now with the member in it, as app.flags.evaluation says. Any other site is
answered by app.flags.evaluation itself.
"""

from __future__ import annotations

from typing import Any

from app.flags import evaluation
from app.lookups import service as lookups
from app.lookups.plans import RootField, Unanswered
from app.settings import Settings
from app.status import SegmentStatus


def _column(keyed: bool) -> str:
    """SQL: the site's flags ($1; those of the keys $4 when ``keyed``) with their targets, in
    key then segment order, as one text array ``flags``: F (enabled) or D, the target's pk
    (none for a flag without a target), a colon, the key. One subquery (three arrays of the
    same rows cost PostgreSQL ~70 µs more a request)."""
    where = " AND f.key = ANY($4::text[])" if keyed else ""
    return (
        ", ARRAY(SELECT CASE WHEN f.enabled THEN 'F' ELSE 'D' END"
        " || COALESCE(CAST(fs.segment_id AS text), '') || ':' || f.key"
        " FROM feature_flags f LEFT JOIN flag_segments fs ON fs.flag_id = f.id"
        f" AND fs.site_id = $1 WHERE f.site_id = $1{where} ORDER BY f.key, fs.segment_id)"
        " AS flags"
    )


_ALL, _KEYED = _column(False), _column(True)


async def _evaluate_flags(
    site_id: int, arguments: dict[str, Any], settings: Settings
) -> list[evaluation.Evaluation]:
    keys: list[str] | None = arguments.get("keys")
    member_id: str = arguments["memberId"]
    if keys is not None and len(keys) > settings.max_lookup_ids:
        raise Unanswered  # TOO_LARGE
    if keys == []:
        return []
    found = await lookups.segments_with(
        site_id=site_id,
        external_id=member_id,
        columns=_ALL if keys is None else _KEYED,
        params=[] if keys is None else [list(dict.fromkeys(keys))],
    )
    if found is None:  # a site that keeps no rule matches
        return await evaluation.evaluate_flags(site_id=site_id, member_id=member_id, keys=keys)
    _, segments, row, now = found
    live = {s.pk for s in segments if s.status(now) is SegmentStatus.ACTIVE}
    flags: dict[str, tuple[bool, list[int]]] = {}
    for flag in row["flags"]:
        target, _, key = flag[1:].partition(":")
        matched = flags.setdefault(key, (flag[0] == "F", []))[1]
        if target and int(target) in live:
            matched.append(int(target))
    if keys is None:
        asked: list[str] = list(flags)
    else:
        asked = keys
    return [
        evaluation.Evaluation(key, flags[key][0] and bool(flags[key][1]), flags[key][1])
        if key in flags
        else evaluation.Evaluation(key, False)
        for key in asked
    ]


FIELDS = (
    RootField(
        "evaluateFlags",
        _evaluate_flags,
        {
            "__typename": lambda e, now: "FlagEvaluation",
            "key": lambda e, now: e.key,
            "enabled": lambda e, now: e.enabled,
            "matchedSegmentIds": lambda e, now: [str(pk) for pk in e.matched_segment_pks],
        },
    ),
)
