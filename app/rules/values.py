"""Meanings both evaluators share, computed once in Python so that they cannot drift apart."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from app.rules.nodes import DaysAgo, String, Value

BUCKETS = 10_000  # members.bucket is 0..BUCKETS-1


def bucket_of(external_id: str) -> int:
    """A stable bucket 0..9999 for percent(): the same id lands in the same bucket everywhere."""
    digest = hashlib.sha256(external_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def percent_threshold(percent: int | float) -> int:
    """percent(n) keeps the buckets below this: n with up to 2 decimals, as hundredths."""
    return round(percent * 100)


def salt_offset(salt: int) -> int:
    """The salt as a 0..BUCKETS-1 shift; (bucket + salt) % BUCKETS needs no negative modulo."""
    return salt % BUCKETS


def as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def days_ago(now: datetime, days: int | float) -> datetime | None:
    """now - days, or None (unknown) when that falls outside the calendar."""
    try:
        return as_utc(now) - timedelta(days=days)
    except OverflowError:
        return None


@lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime | None:
    """An ISO-8601 string as an aware UTC datetime (no offset means UTC); None if unreadable."""
    try:
        return as_utc(datetime.fromisoformat(text))
    except (ValueError, OverflowError):
        return None


def literal_timestamp(literal: Value, now: datetime) -> datetime | None:
    """The instant a literal names when compared with a timestamp field, or None (unknown)."""
    if isinstance(literal, DaysAgo):
        return days_ago(now, literal.days)
    if isinstance(literal, String):
        return parse_timestamp(literal.value)
    return None
