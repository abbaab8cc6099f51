"""The contract's feature flag and live event parts are served whole."""

from __future__ import annotations

import re

from app.schema import sdl
from tests.contract import CONTRACT, gaps, pending

NAMES = re.compile(
    r"FeatureFlag|featureFlag|FlagEvaluation|evaluateFlags|Subscription|segmentEvents"
)


def _gaps(schema: str) -> set[str]:
    return {g for g in gaps(schema, CONTRACT.read_text()) if NAMES.search(g)}


def test_flags_and_live_events_cover_the_contract() -> None:
    # when the served schema is checked against the contract
    # then nothing of flags and live events is missing
    assert _gaps(sdl()) - pending() == set()


def test_the_check_sees_a_missing_flag_field() -> None:
    # given the schema without Segment.featureFlags
    schema = re.sub(r"\n(  \"\"\".*?\"\"\"\n)?  featureFlags: \[FeatureFlag!\]!", "", sdl())

    # then the gap is seen
    assert "Segment: missing field featureFlags" in _gaps(schema)
