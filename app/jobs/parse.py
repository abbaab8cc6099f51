"""Reading an import file (CSV, a JSON array, JSON Lines) in batches of members, in constant
memory, from any row boundary: a batch says the byte offset and line where the next begins.

A row that cannot be a member (no id, a bad email, a value of the wrong JSON type, a value
too long) is a `Problem` with its line, and the rest of the file is read on. A file that
cannot be read at all (not UTF-8, not the declared format, a broken JSON array) raises
`Unreadable`, with the line where reading stopped (0 for the file as a whole).

Everything here is synchronous file work: the worker runs it in a thread.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import orjson

from app.errors import DomainError, ErrorCode
from app.jobs.models import ImportFormat
from app.members.service import MemberData, check_external_id, check_row

MAX_LINE_BYTES = 1024 * 1024  # a CSV or JSONL line, a JSON array element
MAX_VALUE_LENGTH = 2000  # an attribute's string value, in characters
MAX_COLUMNS = 1000
_CHUNK = 1024 * 1024

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+\Z")
_KNOWN = ("id", "email", "name", "company_id")
_INVALID = ErrorCode.INVALID


class Unreadable(Exception):
    """The file cannot be read as the declared format: the job fails with this message."""

    def __init__(self, message: str, line: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class Problem:
    line: int
    message: str


@dataclass
class Row:
    line: int
    data: MemberData


@dataclass
class Batch:
    rows: list[Row] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    end_offset: int = 0  # where the next batch starts
    end_line: int = 0  # lines before end_offset
    done: bool = False  # nothing after this batch


class Reader(Protocol):
    def next_batch(self, max_rows: int) -> Batch: ...

    def close(self) -> None: ...


def check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 text, naming the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as e:
                line = lines + chunk.count(b"\n", 0, e.start) + 1
                raise Unreadable(
                    f"the file is not UTF-8 text (a byte at line {line} is not UTF-8)", line
                ) from None
            lines += chunk.count(b"\n")
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise Unreadable("the file is not UTF-8 text (it ends inside a character)") from None


def open_reader(path: Path, fmt: ImportFormat, *, offset: int, line: int) -> Reader:
    """A reader of the file from a row boundary a previous batch ended at (0, 0: the start)."""
    f = path.open("rb")
    try:
        if fmt is ImportFormat.CSV:
            return _CsvReader(f, offset, line)
        if fmt is ImportFormat.JSONL:
            return _JsonLinesReader(f, offset, line)
        return _JsonArrayReader(f, offset, line)
    except BaseException:
        f.close()
        raise


# --------------------------------------------------------------------------- rows


def _text(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def _csv_value(value: str) -> Any:
    """A CSV attribute typed: an integer, a decimal, true/false, else the string itself."""
    if _INTEGER.match(value):
        return int(value)
    if _DECIMAL.match(value):
        return float(value)
    lowered = value.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return value


def _checked(data: MemberData) -> MemberData:
    """The row as upsert will take it, or DomainError with what is wrong."""
    check_row(data)
    if isinstance(data.company_id, str):
        data.company_id = check_external_id(data.company_id, ["company_id"])
    if isinstance(data.attributes, dict):
        for key, value in data.attributes.items():
            if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
                raise DomainError(
                    _INVALID, f"the value of {_text(key)!r} is over {MAX_VALUE_LENGTH} characters"
                )
    return data


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _json_id(value: Any, name: str) -> Any:
    """An id field of a JSON row: a string or an integer, as a string; null stays null."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise DomainError(_INVALID, f"{name} must be a string or an integer, not {_type_name(value)}")


def _json_text(value: Any, name: str) -> Any:
    if value is None or isinstance(value, str):
        return value
    raise DomainError(_INVALID, f"{name} must be a string, not {_type_name(value)}")


def json_row(value: Any) -> MemberData:
    """A member from a JSON object: id, email, name, company_id; every other key (and the
    entries of an "attributes" object) an attribute, null removing it. DomainError if bad."""
    if not isinstance(value, dict):
        raise DomainError(_INVALID, f"expected a JSON object, not {_type_name(value)}")
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        raise DomainError(_INVALID, "the row holds an invalid Unicode escape") from None
    if b"\\u0000" in encoded:
        raise DomainError(_INVALID, "the row holds a NUL character")
    ident = _json_id(value.get("id"), "id")
    if not ident or not ident.strip():
        raise DomainError(_INVALID, "the row has no id")
    data = MemberData(external_id=ident)
    attributes: dict[str, Any] = {}
    for key, item in value.items():
        if key == "id":
            continue
        if key == "email":
            data.email = _json_text(item, "email")
        elif key == "name":
            data.name = _json_text(item, "name")
        elif key == "company_id":
            data.company_id = _json_id(item, "company_id")
        elif key == "attributes" and item is not None:
            if not isinstance(item, dict):
                raise DomainError(
                    _INVALID, f"attributes must be a JSON object, not {_type_name(item)}"
                )
            attributes.update(item)
        else:
            attributes[key] = item
    if attributes:
        data.attributes = attributes
    return _checked(data)


# --------------------------------------------------------------------------- lines


class _Lines:
    """Lines of a binary file decoded as UTF-8, with the byte offset and count of lines read."""

    def __init__(self, f: BinaryIO, offset: int, line: int) -> None:
        self.f = f
        self.offset = offset
        self.line = line
        f.seek(offset)

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self.f.readline(MAX_LINE_BYTES + 1)
        if not raw:
            raise StopIteration
        if len(raw) > MAX_LINE_BYTES:
            raise Unreadable(
                f"line {self.line + 1} is longer than {MAX_LINE_BYTES} bytes", self.line + 1
            )
        self.offset += len(raw)
        self.line += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Unreadable(f"line {self.line} is not UTF-8 text", self.line) from None
        if self.offset == len(raw) and text.startswith("\ufeff"):
            text = text[1:]  # the byte order mark spreadsheets write
        return text


# --------------------------------------------------------------------------- CSV


def _delimiter(header: str) -> str:
    """The delimiter a header line uses: the commonest of comma, semicolon and tab."""
    counts = {d: header.count(d) for d in (",", ";", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


class _CsvReader:
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
        if offset == 0:
            offset, line = first.offset, first.line
        self.lines = _Lines(f, offset, line)
        csv.field_size_limit(MAX_LINE_BYTES)
        self.reader = csv.reader(self.lines, delimiter=self.delimiter)

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
            value = raw.strip()
            if "\x00" in value:
                raise DomainError(_INVALID, f"{_text(column)!r} holds a NUL character")
            if column == "id":
                data.external_id = value
            elif not value:
                continue  # an empty field is absent: the stored value is kept
            elif column == "email":
                data.email = value
            elif column == "name":
                data.name = value
            elif column == "company_id":
                data.company_id = value
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
                raise Unreadable(f"line {start}: {e}", start) from None
            if not any(v.strip() for v in values):
                continue  # a blank line (or one of bare delimiters) is no row
            batch.rows_read += 1
            try:
                batch.rows.append(Row(start, self._row(values)))
            except DomainError as e:
                batch.problems.append(Problem(start, e.message))
        batch.end_offset, batch.end_line = self.lines.offset, self.lines.line
        return batch

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- JSON Lines


class _JsonLinesReader:
    def __init__(self, f: BinaryIO, offset: int, line: int) -> None:
        self.f = f
        self.lines = _Lines(f, offset, line)
        self.seen_one = offset > 0  # the first row decides whether this is JSON Lines at all

    def next_batch(self, max_rows: int) -> Batch:
        batch = Batch()
        while batch.rows_read < max_rows:
            try:
                text = next(self.lines)
            except StopIteration:
                batch.done = True
                break
            if not text.strip():
                continue
            line = self.lines.line
            batch.rows_read += 1
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as e:
                if not self.seen_one:
                    raise Unreadable(
                        f"line {line} is not JSON ({e.msg}): is the file JSON Lines?", line
                    ) from None
                batch.problems.append(Problem(line, f"not valid JSON: {e.msg}"))
                continue
            if not self.seen_one and isinstance(value, list):
                raise Unreadable(
                    f"line {line} is a JSON array: JSON Lines has one object per line"
                    " (is the file a JSON array?)",
                    line,
                )
            self.seen_one = True
            try:
                batch.rows.append(Row(line, json_row(value)))
            except DomainError as e:
                batch.problems.append(Problem(line, e.message))
        batch.end_offset, batch.end_line = self.lines.offset, self.lines.line
        return batch

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- JSON array


_WHITESPACE = " \t\r\n"


class _JsonArrayReader:
    """The elements of one top-level JSON array, read a chunk at a time.

    A batch ends after an element, so a reader opened at a batch's end offset (and line)
    is between elements: it expects ``,`` or ``]`` next.
    """

    def __init__(self, f: BinaryIO, offset: int, line: int) -> None:
        self.f = f
        f.seek(offset)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.json = json.JSONDecoder()
        self.buf = ""
        self.pos = 0
        self.byte_start = offset  # the byte offset of buf[0]
        self.line = line + 1  # the line pos is on
        self.eof = False
        self.state = "after" if offset else "start"
        if offset == 0:
            self._open()

    def _more(self) -> bool:
        """Read another chunk into the buffer; False at the end of the file."""
        if self.eof:
            return False
        self._compact()
        chunk = self.f.read(_CHUNK)
        try:
            self.buf += self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            raise Unreadable(f"line {self.line}: the file is not UTF-8 text", self.line) from None
        if not chunk:
            self.eof = True
        return True

    def _compact(self) -> None:
        if self.pos:
            self.byte_start += len(self.buf[: self.pos].encode("utf-8"))
            self.buf = self.buf[self.pos :]
            self.pos = 0

    def _peek(self) -> str:
        """The next character that is not whitespace ('' at the end), skipping to it."""
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in _WHITESPACE:
                if self.buf[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._more():
                return ""

    def _open(self) -> None:
        first = self._peek()
        if first == "[":
            self.pos += 1
            self.state = "first"
            return
        if first == "":
            raise Unreadable("the file is empty: a JSON import is an array of objects")
        hint = " (is it JSON Lines?)" if first == "{" else " (is it CSV?)"
        raise Unreadable(
            f"a JSON import is an array of objects, but the file starts with {first!r}{hint}", 1
        )

    def _element(self) -> tuple[Any, int]:
        """The next element and its line; the buffer is read on until it holds all of it."""
        line = self.line
        while True:
            try:
                value, end = self.json.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as e:
                if len(self.buf) - self.pos > MAX_LINE_BYTES:
                    raise Unreadable(
                        f"line {line}: an element is longer than {MAX_LINE_BYTES} bytes", line
                    ) from None
                if self._more():
                    continue
                at = self.line + self.buf.count("\n", self.pos, e.pos)
                raise Unreadable(f"line {at}: invalid JSON ({e.msg})", at) from None
            if end == len(self.buf) and not isinstance(value, dict | list | str) and self._more():
                continue  # a number (or literal) cut at the end of a chunk: read on
            self.line += self.buf.count("\n", self.pos, end)
            self.pos = end
            return value, line

    def next_batch(self, max_rows: int) -> Batch:
        batch = Batch()
        while batch.rows_read < max_rows and self.state != "end":
            nxt = self._peek()
            if self.state == "after":
                if nxt == ",":
                    self.pos += 1
                    self.state = "value"
                    continue
                if nxt == "]":
                    self.pos += 1
                    self.state = "end"
                    break
                self._unexpected(nxt, "',' or ']'")
            if self.state == "first" and nxt == "]":
                self.pos += 1
                self.state = "end"
                break
            if nxt == "":
                self._unexpected(nxt, "a value")
            value, line = self._element()
            self.state = "after"
            batch.rows_read += 1
            try:
                batch.rows.append(Row(line, json_row(value)))
            except DomainError as e:
                batch.problems.append(Problem(line, e.message))
        if self.state == "end":
            if self._peek() != "":
                self._unexpected(self.buf[self.pos], "the end of the file")
            batch.done = True
        self._compact()
        batch.end_offset = self.byte_start
        batch.end_line = self.line - 1
        return batch

    def _unexpected(self, found: str, expected: str) -> None:
        what = "the end of the file" if found == "" else repr(found)
        raise Unreadable(f"line {self.line}: expected {expected}, found {what}", self.line)

    def close(self) -> None:
        self.f.close()
