"""The CSV reader of imports: a header row, then one member a line."""

from __future__ import annotations

import csv
from typing import Any, BinaryIO

import orjson

from app.errors import DomainError
from app.exports.cells import unescaped
from app.exports.service import COLUMNS as EXPORT_COLUMNS
from app.jobs.rows import (
    _INVALID,
    _KNOWN,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    Batch,
    Problem,
    Row,
    Unreadable,
    _checked,
    _csv_value,
    _Lines,
    _text,
    check_json,
    loads,
)
from app.members.service import MemberData

# --------------------------------------------------------------------------- CSV


def _delimiter(header: str) -> str:
    """The delimiter a header line uses: the commonest of comma, semicolon and tab."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _attributes_cell(value: str) -> dict[str, Any]:
    """The attributes an ``attributes`` cell holds: a JSON object, else DomainError."""
    try:
        found = loads(value)
    except orjson.JSONDecodeError:
        found = None
    if not isinstance(found, dict):
        raise DomainError(_INVALID, "the attributes column holds a JSON object, as exports write")
    check_json(found)
    return found


class CsvReader:
    def __init__(self, f: BinaryIO, offset: int, line: int) -> None:
        self.f = f
        first = _Lines(f, 0, 0)
        header_line = next(first, "")
        if not header_line.strip():
            raise Unreadable("the file is empty: a CSV import starts with a header row", 1)
        if header_line.lstrip()[:1] in ("[", "{"):
            raise Unreadable("the file looks like JSON, not CSV", 1)
        self.delimiter = _delimiter(header_line)
        self.columns = self._header(header_line)
        # a segment's export imported again: its source column says how each member was in
        # that segment (MANUAL, RULE...), nothing of the member's own
        self.skipped = {"source"} if tuple(self.columns) == EXPORT_COLUMNS else set()
        if offset == 0:
            offset, line = first.offset, first.line
        self.lines = _Lines(f, offset, line)
        csv.field_size_limit(MAX_LINE_BYTES)
        # strict: a quote never closed (the rest of the file read as one field) or text after
        # a closing quote is an error with its line, not a row silently made of other rows
        self.reader = csv.reader(self.lines, delimiter=self.delimiter, strict=True)

    def _header(self, text: str) -> list[str]:
        names = [c.strip() for c in next(csv.reader([text], delimiter=self.delimiter))]
        if len(names) > MAX_COLUMNS:
            raise Unreadable(f"the header has {len(names)} columns, over {MAX_COLUMNS}", 1)
        columns: list[str] = []
        for i, name in enumerate(names):
            if not name:
                raise Unreadable(f"column {i + 1} of the header has no name", 1)
            known = name.lower()
            column = known if known in _KNOWN else name
            if column in columns:
                raise Unreadable(f"column {name!r} appears twice in the header", 1)
            columns.append(column)
        if "id" not in columns:
            shown = ", ".join(_text(c) for c in columns[:10])
            raise Unreadable(f"the header has no id column (its columns: {shown})", 1)
        return columns

    def _row(self, values: list[str]) -> MemberData:
        if len(values) != len(self.columns):
            n = len(values)
            raise DomainError(
                _INVALID,
                f"the row has {n} field{'' if n == 1 else 's'}, the header has {len(self.columns)}",
            )
        data = MemberData(external_id="")
        attributes: dict[str, Any] = {}
        for column, raw in zip(self.columns, values, strict=True):
            # a cell the export made formula-safe ('=...) is the value it was given, whole;
            # any other is trimmed
            cell = raw.lstrip()
            value = unescaped(cell)
            if value is None:
                value = cell.rstrip()
            if "\x00" in value:
                raise DomainError(_INVALID, f"{_text(column)!r} holds a NUL character")
            if column == "id":
                data.external_id = value
            elif not value or column in self.skipped:
                continue  # an empty field is absent: the stored value is kept
            elif column == "email":
                data.email = value
            elif column == "name":
                data.name = value
            elif column == "company_id":
                data.company_id = value
            elif column.lower() == "attributes":
                # a JSON object of attributes, as the export writes them and as a JSON import
                # takes them: the row's other columns are attributes beside it
                attributes = {**_attributes_cell(value), **attributes}
            else:
                attributes[column] = _csv_value(value)
        if not data.external_id:
            raise DomainError(_INVALID, "the row has no id")
        if attributes:
            data.attributes = attributes
        return _checked(data)

    def next_batch(self, max_rows: int) -> Batch:
        batch = Batch()
        while batch.rows_read < max_rows:
            start = self.lines.line + 1
            try:
                values = next(self.reader)
            except StopIteration:
                batch.done = True
                break
            except csv.Error as e:
                said = str(e)
                if said == "unexpected end of data":
                    said = 'a quoted field that starts here is never closed (a " is missing)'
                raise Unreadable(f"line {start}: {said}", start) from None
            if not any(v.strip() for v in values):
                continue  # a blank line (or one of bare delimiters) is no row
            batch.rows_read += 1
            try:
                batch.rows.append(Row(start, self._row(values)))
            except DomainError as e:
                batch.problems.append(Problem(start, e.message))
        return self.lines.ended(batch)

    def close(self) -> None:
        self.f.close()
