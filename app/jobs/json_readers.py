"""The JSON readers of imports: JSON Lines (one object a line) and one JSON array of
objects, read a chunk at a time with a tokenizer of its own."""

from __future__ import annotations

import codecs
import json
from typing import Any, BinaryIO

import orjson

from app.errors import DomainError
from app.jobs.rows import (
    CHUNK,
    MAX_LINE_BYTES,
    Batch,
    Problem,
    Row,
    Unreadable,
    _Lines,
    json_row,
    loads,
)

# --------------------------------------------------------------------------- JSON Lines


class JsonLinesReader:
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
                value = loads(text)
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
        return self.lines.ended(batch)

    def close(self) -> None:
        self.f.close()


# --------------------------------------------------------------------------- JSON array


_WHITESPACE = " \t\r\n"


class JsonArrayReader:
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
        chunk = self.f.read(CHUNK)
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
