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
from pathlib import Path

from app.jobs.csv_reader import CsvReader
from app.jobs.json_readers import JsonArrayReader, JsonLinesReader
from app.jobs.models import ImportFormat
from app.jobs.rows import CHUNK, MAX_LINE_BYTES, MAX_VALUE_LENGTH, Batch, Reader, Row, Unreadable

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_VALUE_LENGTH",
    "Batch",
    "Reader",
    "Row",
    "Unreadable",
    "check_utf8",
    "open_reader",
]


def check_utf8(path: Path) -> None:
    """Refuse a file that is not UTF-8 text, naming the line of the first bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
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
            return CsvReader(f, offset, line)
        if fmt is ImportFormat.JSONL:
            return JsonLinesReader(f, offset, line)
        return JsonArrayReader(f, offset, line)
    except BaseException:
        f.close()
        raise
