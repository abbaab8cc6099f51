"""Per-recipient placeholders: {{name}}, {{email}} and {{id}} (spaces inside the braces
allowed). In HTML the values are escaped, so a member's name cannot inject markup. Any other
{{...}} is refused when the campaign is made (see ``unknown``), so a typo never reaches a
recipient."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping

NAMES = ("name", "email", "id")
PLACEHOLDER = re.compile(r"\{\{\s*(name|email|id)\s*\}\}")
ANY_PLACEHOLDER = re.compile(r"\{\{[^{}]*\}\}")


def unknown(template: str) -> list[str]:
    """The template's placeholders that are not {{name}}, {{email}} or {{id}}, as written,
    each once, in order."""
    found = (m.group(0) for m in ANY_PLACEHOLDER.finditer(template))
    return list(dict.fromkeys(p for p in found if not PLACEHOLDER.fullmatch(p)))


def render(template: str, values: Mapping[str, str | None], *, html: bool = False) -> str:
    """The template with each placeholder replaced by its value (a missing value: empty)."""

    def value(match: re.Match[str]) -> str:
        text = values.get(match.group(1)) or ""
        return html_lib.escape(text, quote=True) if html else text

    return PLACEHOLDER.sub(value, template)


def render_header(template: str, values: Mapping[str, str | None]) -> str:
    """A header (the subject): rendered as plain text, on one line whatever the values hold."""
    return " ".join(render(template, values).splitlines())
