"""What every import reader shares: the limits, the rows and batches it gives, how a
value of a file becomes a member's field, and lines of a file read as UTF-8."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Protocol

import orjson

from app.db import json_type
from app.errors import DomainError, ErrorCode
from app.members.service import MemberData, check_external_id, check_row
from app.settings import get_settings

MAX_LINE_BYTES = 1024 * 1024  # a CSV or JSONL line, a JSON array element
MAX_VALUE_LENGTH = 2000  # an attribute's string value, in characters
MAX_COLUMNS = 1000
CHUNK = 1024 * 1024

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)\Z")
_DECIMAL = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+\Z")
_KNOWN = ("id", "email", "name", "company_id")
_LONG_NUMBER = re.compile(r"\d{20}")
_INT64 = 2**63
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
    if data.attributes:
        _check_numbers(data.attributes)  # a CSV value: an integer of any size
    if isinstance(data.company_id, str):
        data.company_id = check_external_id(data.company_id, ["company_id"])
    if isinstance(data.attributes, dict):
        for key, value in data.attributes.items():
            if isinstance(value, str) and len(value) > MAX_VALUE_LENGTH:
                raise DomainError(
                    _INVALID, f"the value of {_text(key)!r} is over {MAX_VALUE_LENGTH} characters"
                )
    return data


_WITH_ARTICLE = {"null": "null", "array": "an array", "object": "an object"}


def _type_name(value: Any) -> str:
    kind = json_type(value)
    return _WITH_ARTICLE.get(kind, f"a {kind}")


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


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether a decoded JSON value nests more than ``limit`` levels (a scalar: none; the
    walk stops at the limit, so a value of any depth costs no deeper recursion than it)."""
    if not isinstance(value, dict | list):
        return False
    if limit == 0:
        return True
    items = value.values() if isinstance(value, dict) else value
    return any(_deeper_than(item, limit - 1) for item in items)


def _check_numbers(value: Any) -> None:
    """DomainError for a number the API refuses (and the databases cannot hold): an integer
    past 64 bits (orjson cannot even write it: the batch failed, again at each retry), or
    NaN and the infinities (orjson writes them as null: the value was lost). ``value`` nests
    no deeper than MAX_JSON_DEPTH."""
    if isinstance(value, dict):
        for item in value.values():
            _check_numbers(item)
    elif isinstance(value, list):
        for item in value:
            _check_numbers(item)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int) and not -_INT64 <= value < _INT64:
        raise DomainError(
            _INVALID,
            f"the row holds an integer out of range ({_text(str(value))}): integers are 64-bit"
            " (from -2^63 to 2^63-1)",
        )
    elif isinstance(value, float) and not math.isfinite(value):
        raise DomainError(_INVALID, f"the row holds {value}, which is not a finite number")


def loads(text: str) -> Any:
    """JSON text decoded (orjson.JSONDecodeError if it is not JSON), an integer past 64 bits
    kept as the integer it is (orjson reads one as a float, silently rounded: 1e+23 for
    99999999999999999999999), for check_json to refuse."""
    value = orjson.loads(text)
    if _LONG_NUMBER.search(text):
        # deeper than the standard parser goes: deeper than any row may be (check_json)
        with contextlib.suppress(RecursionError):
            value = json.loads(text)
    return value


def check_json(value: Any) -> None:
    """DomainError for decoded JSON the database cannot store or the API would refuse: a NUL
    character, nesting deeper than MAX_JSON_DEPTH (the row, whose keys are attributes, one
    level of it, as an attributes object is in the API), or a number past 64 bits or not
    finite."""
    limit = get_settings().max_json_depth
    if _deeper_than(value, limit):
        raise DomainError(_INVALID, f"the row nests over {limit} levels deep (MAX_JSON_DEPTH)")
    _check_numbers(value)
    try:
        encoded = orjson.dumps(value)
    except TypeError:
        raise DomainError(_INVALID, "the row holds an invalid Unicode escape") from None
    if b"\\u0000" in encoded:
        raise DomainError(_INVALID, "the row holds a NUL character")


def json_row(value: Any) -> MemberData:
    """A member from a JSON object: id, email, name, company_id; every other key (and the
    entries of an "attributes" object) an attribute, null removing it. DomainError if bad."""
    if not isinstance(value, dict):
        raise DomainError(_INVALID, f"expected a JSON object, not {_type_name(value)}")
    check_json(value)
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

    def ended(self, batch: Batch) -> Batch:
        """The batch, marked as ending where the lines were read up to."""
        batch.end_offset, batch.end_line = self.offset, self.line
        return batch
