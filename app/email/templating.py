"""Per-recipient placeholders: {{name}}, {{email}} and {{id}} (spaces inside the braces
allowed). In HTML the values are escaped, so a member's name cannot inject markup; any
other {{...}} is left as written."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping

PLACEHOLDER = re.compile(r"\{\{\s*(name|email|id)\s*\}\}")


def render(template: str, values: Mapping[str, str | None], *, html: bool = False) -> str:
    """The template with each placeholder replaced by its value (a missing value: empty)."""

    def value(match: re.Match[str]) -> str:
        text = values.get(match.group(1)) or ""
        return html_lib.escape(text, quote=True) if html else text

    return PLACEHOLDER.sub(value, template)


def render_header(template: str, values: Mapping[str, str | None]) -> str:
    """A header (the subject): rendered as plain text, on one line whatever the values hold."""
    return " ".join(render(template, values).splitlines())
