"""The contract's feature flag and live event parts are served whole."""

from __future__ import annotations

import re

from app.schema import sdl
from tests.test_schema import CONTRACT, _load_contract_check

NAMES = re.compile(
    r"FeatureFlag|featureFlag|FlagEvaluation|evaluateFlags|Subscription|segmentEvents"
)
LEFT_FOR_LATER: set[str] = set()


def _gaps(schema: str) -> set[str]:
    gaps: list[str] = _load_contract_check().gaps(schema, CONTRACT.read_text())
    return {g for g in gaps if NAMES.search(g)}


def test_flags_and_live_events_cover_the_contract() -> None:
    # when the served schema is checked against the contract
    # then nothing of flags and live events is missing
    assert _gaps(sdl()) == LEFT_FOR_LATER


def test_the_check_sees_a_missing_flag_field() -> None:
    # given the schema without Segment.featureFlags
    schema = re.sub(r"\n(  \"\"\".*?\"\"\"\n)?  featureFlags: \[FeatureFlag!\]!", "", sdl())

    # then the gap is seen
    assert "Segment: missing field featureFlags" in _gaps(schema)
