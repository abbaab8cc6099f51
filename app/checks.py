"""Input limits every domain shares: names (or labels) and descriptions."""

from __future__ import annotations

from collections.abc import Sequence

from app.errors import DomainError, ErrorCode
from app.settings import get_settings


def check_name(name: str, path: Sequence[str], what: str = "name") -> str:
    """The name (or label) trimmed; INVALID when empty or over MAX_NAME_LENGTH."""
    name = name.strip()
    limit = get_settings().max_name_length
    if not name:
        raise DomainError(ErrorCode.INVALID, f"{what} must not be empty", path)
    if len(name) > limit:
        raise DomainError(
            ErrorCode.INVALID, f"{what} is over the limit of {limit} characters", path
        )
    return name


def check_description(description: str | None, path: Sequence[str]) -> None:
    """INVALID when the description is over MAX_DESCRIPTION_LENGTH."""
    limit = get_settings().max_description_length
    if description is not None and len(description) > limit:
        raise DomainError(
            ErrorCode.INVALID, f"description is over the limit of {limit} characters", path
        )
