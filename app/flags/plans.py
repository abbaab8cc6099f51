"""evaluateFlags as a root field the plans for hot documents answer (app.lookups.plans)."""

from __future__ import annotations

from typing import Any

from app.flags import evaluation
from app.lookups.plans import RootField, Unanswered
from app.settings import Settings


async def _evaluate_flags(
    site_id: int, arguments: dict[str, Any], settings: Settings
) -> list[evaluation.Evaluation]:
    keys: list[str] | None = arguments.get("keys")
    if keys is not None and len(keys) > settings.max_lookup_ids:
        raise Unanswered  # TOO_LARGE
    return await evaluation.evaluate_flags(
        site_id=site_id, member_id=arguments["memberId"], keys=keys
    )


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
