"""CSV cells that a spreadsheet reads as text, never as a formula (OWASP "CSV Injection").

Excel, LibreOffice and Google Sheets may take a cell whose first character is ``=``, ``+``,
``-``, ``@``, a tab, a carriage return or a line feed for a formula (OWASP's list; the
whitespace because a formula may follow it). The export writes such a cell with a leading
single quote, which spreadsheets take for "this cell is text" and do not show. A value that
already starts with quotes before one of those characters gets one more, so that the CSV
import can undo the escaping exactly (``unescaped``): every value comes back as it was
stored, negative numbers (``-5``) and leading whitespace included.
"""

from __future__ import annotations

# the first characters that make a spreadsheet cell a formula
TRIGGERS = frozenset("=+-@\t\r\n")
# the first characters of a value that may need the quote (a trigger, or quotes before one)
LEADING = TRIGGERS | {"'"}


def formula_safe(value: str | None) -> str | None:
    """The value as a CSV cell a spreadsheet reads as text: a leading ``'`` added when the
    value starts with a formula character, or with quotes before one; else unchanged."""
    if value and value[0] in LEADING and value.lstrip("'")[:1] in TRIGGERS:
        return "'" + value
    return value


def unescaped(cell: str) -> str | None:
    """The value formula_safe was given for this cell when it added a quote (one leading
    ``'`` dropped, whitespace kept: it is part of the value); None when it added none."""
    if cell[:1] == "'" and cell.lstrip("'")[:1] in TRIGGERS:
        return cell[1:]
    return None
