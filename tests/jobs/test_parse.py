"""Reading import files: typed CSV values, JSON rows, bad rows with their lines, unreadable
files, and batches that resume from where the last one ended."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.jobs import json_readers, parse
from app.jobs.models import ImportFormat
from app.jobs.parse import Unreadable, check_utf8, open_reader
from app.members.service import UNSET


def _write(tmp_path: Path, content: str | bytes, name: str = "f") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def read_all(path: Path, fmt: ImportFormat, batch_rows: int = 1000) -> dict[str, Any]:
    """Every row and problem, reading in batches of batch_rows, each from a fresh reader
    opened where the last batch ended (as a resumed job does)."""
    offset, line, rows, problems, read = 0, 0, [], [], 0
    while True:
        reader = open_reader(path, fmt, offset=offset, line=line)
        try:
            batch = reader.next_batch(batch_rows)
        finally:
            reader.close()
        rows += [(r.line, r.data) for r in batch.rows]
        problems += [(p.line, p.message) for p in batch.problems]
        read += batch.rows_read
        offset, line = batch.end_offset, batch.end_line
        if batch.done:
            return {"rows": rows, "problems": problems, "read": read}


def attrs(data: Any) -> Any:
    return data.attributes


# --------------------------------------------------------------------------- CSV


def test_csv_values_are_typed_and_empty_fields_are_absent(tmp_path: Path) -> None:
    # given a CSV with known columns (any case) and attribute columns of every kind
    path = _write(
        tmp_path,
        "ID,Email,name,company_id,tier,points,ratio,vip,churned,zip,note\n"
        "u1,ann@example.com,Ann,c1,gold,1200,2.50,true,FALSE,007,  spaced  \n"
        "u2,,,,,-3,0.0,,,,\n",
    )
    # when it is read
    result = read_all(path, ImportFormat.CSV)
    # then integers, decimals and booleans are typed, the rest are strings, empty is absent
    (l1, first), (l2, second) = result["rows"]
    assert (l1, l2) == (2, 3)
    assert (first.external_id, first.email, first.name, first.company_id) == (
        "u1",
        "ann@example.com",
        "Ann",
        "c1",
    )
    assert first.attributes == {
        "tier": "gold",
        "points": 1200,
        "ratio": 2.5,
        "vip": True,
        "churned": False,
        "zip": "007",
        "note": "spaced",
    }
    assert second.email is UNSET and second.name is UNSET and second.company_id is UNSET
    assert second.attributes == {"points": -3, "ratio": 0.0}
    assert result["problems"] == []


def test_csv_bad_rows_are_problems_with_their_line_and_the_rest_is_read(tmp_path: Path) -> None:
    long_name = "n" * 256
    long_value = "v" * (parse.MAX_VALUE_LENGTH + 1)
    path = _write(
        tmp_path,
        "id,email,name,note\n"
        "ok1,,,\n"  # line 2
        ",a@example.com,,\n"  # 3: no id
        "u3,not-an-email,,\n"  # 4
        f"u4,,{long_name},\n"  # 5
        f"u5,,,{long_value}\n"  # 6
        "u6,,\n"  # 7: a field short
        "\n"  # 8: blank, no row
        f"{'i' * 256},,,\n"  # 9: id too long
        '"multi","b@example.com","two\nlines",x\n'  # 10-11
        "ok2,,,\n",  # 12
    )
    result = read_all(path, ImportFormat.CSV, batch_rows=3)
    assert [(line, d.external_id) for line, d in result["rows"]] == [
        (2, "ok1"),
        (10, "multi"),
        (12, "ok2"),
    ]
    assert result["rows"][1][1].name == "two\nlines"
    lines = [line for line, _ in result["problems"]]
    assert lines == [3, 4, 5, 6, 7, 9]
    messages = dict(result["problems"])
    assert "no id" in messages[3]
    assert "not an email" in messages[4]
    assert "name is over 255" in messages[5]
    assert "'note' is over" in messages[6]
    assert "3 fields, the header has 4" in messages[7]
    assert "id is over 255" in messages[9]
    assert result["read"] == 9


def test_csv_with_semicolons_and_a_byte_order_mark(tmp_path: Path) -> None:
    path = _write(tmp_path, "\ufeffid;email;score\r\nu1;a@example.com;1,5\r\n")
    ((_, row),) = read_all(path, ImportFormat.CSV)["rows"]
    assert (row.external_id, row.email, row.attributes) == ("u1", "a@example.com", {"score": "1,5"})


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("", "the file is empty", 1),
        ("email,name\na@example.com,Ann\n", "the header has no id column", 1),
        ("id,email,id\n", "appears twice", 1),
        ("id,,name\n", "column 2 of the header has no name", 1),
        ('[{"id": "u1"}]', "looks like JSON, not CSV", 1),
        ("id,name\nu1,Ann\n" + "u2," + "x" * (parse.MAX_LINE_BYTES + 10) + "\n", "longer than", 3),
        (
            'id,email,points\nr1,a@example.com,1\nr3,c@example.com,"unterminated\nr4,d@example.com,4\n',
            "line 3: a quoted field that starts here is never closed",
            3,
        ),
        ('id,name\nu1,Ann\nu2,"Bo"b\n', "line 3: ',' expected after '\"'", 3),
    ],
    ids=["empty", "no-id", "duplicate", "unnamed", "json", "huge-line", "unclosed", "stray"],
)
def test_unreadable_csv(tmp_path: Path, content: str, message: str, line: int) -> None:
    path = _write(tmp_path, content)
    with pytest.raises(Unreadable) as caught:
        read_all(path, ImportFormat.CSV)
    assert message in caught.value.message
    assert caught.value.line == line


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "id,name\nu1,Ann\nu2,Ren\xe9e\n".encode("latin-1"))
    with pytest.raises(Unreadable) as caught:
        check_utf8(path)
    assert "not UTF-8" in caught.value.message
    assert caught.value.line == 3


def test_a_utf8_file_passes_the_encoding_check(tmp_path: Path) -> None:
    check_utf8(_write(tmp_path, "id,name\nu1,Renée ✓\n"))


# --------------------------------------------------------------------------- JSON


JSON_ROWS = """[
  {"id": "j1", "email": "a@example.com", "tier": "gold", "points": 3},
  {"id": 42, "name": null, "attributes": {"x": {"deep": [1, 2]}}, "gone": null},
  5,
  {"email": "b@example.com"},
  {"id": "j5", "email": 7},
  {"id": "j6", "attributes": [1]},
  {"id": "j7", "company_id": 12.5},
  {"id": true},
  {"id": "j9", "name": "Nine"}
]
"""


@pytest.mark.parametrize("batch_rows", [1, 2, 100])
def test_json_array_rows_and_problems(tmp_path: Path, batch_rows: int) -> None:
    path = _write(tmp_path, JSON_ROWS)
    result = read_all(path, ImportFormat.JSON, batch_rows=batch_rows)
    rows = {d.external_id: (line, d) for line, d in result["rows"]}
    assert list(rows) == ["j1", "42", "j9"]
    assert rows["j1"][0] == 2
    assert attrs(rows["j1"][1]) == {"tier": "gold", "points": 3}
    assert rows["42"][1].name is None  # an explicit null clears
    assert attrs(rows["42"][1]) == {"x": {"deep": [1, 2]}, "gone": None}  # null removes a key
    assert rows["j9"][0] == 10
    problems = dict(result["problems"])
    assert list(problems) == [4, 5, 6, 7, 8, 9]
    assert "expected a JSON object, not a number" in problems[4]
    assert "no id" in problems[5]
    assert "email must be a string, not a number" in problems[6]
    assert "attributes must be a JSON object" in problems[7]
    assert "company_id must be a string or an integer" in problems[8]
    assert "id must be a string or an integer, not a boolean" in problems[9]
    assert result["read"] == 9


def test_json_array_on_one_line_across_read_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given one long line, read in chunks smaller than an element (numbers cut at a chunk end)
    monkeypatch.setattr(json_readers, "CHUNK", 7)
    body = ", ".join(f'{{"id": "m{i}", "n": {i * 1001}}}' for i in range(50))
    path = _write(tmp_path, f"[{body}]")
    result = read_all(path, ImportFormat.JSON, batch_rows=7)
    assert [d.attributes["n"] for _, d in result["rows"]] == [i * 1001 for i in range(50)]
    assert {line for line, _ in result["rows"]} == {1}


def test_an_empty_json_array_has_no_rows(tmp_path: Path) -> None:
    assert read_all(_write(tmp_path, " [ ]\n"), ImportFormat.JSON)["read"] == 0


@pytest.mark.parametrize(
    ("content", "message", "line"),
    [
        ("", "the file is empty", 0),
        ("id,email\nu1,a@example.com\n", "starts with 'i' (is it CSV?)", 1),
        ('{"id": "u1"}\n{"id": "u2"}\n', "(is it JSON Lines?)", 1),
        ('[{"id": "u1"},\n {"id": "u2",, }\n]', "line 2: invalid JSON", 2),
        ('[{"id": "u1"}\n {"id": "u2"}]', "expected ',' or ']'", 2),
        ('[{"id": "u1"},', "line 1: expected a value, found the end of the file", 1),
        ('[{"id": "u1"}] trailing', "expected the end of the file", 1),
    ],
    ids=["empty", "csv", "jsonl", "syntax", "no-comma", "truncated", "trailing"],
)
def test_unreadable_json(tmp_path: Path, content: str, message: str, line: int) -> None:
    with pytest.raises(Unreadable) as caught:
        read_all(_write(tmp_path, content), ImportFormat.JSON)
    assert message in caught.value.message
    assert caught.value.line == line


# --------------------------------------------------------------------------- JSON Lines


def test_json_lines_rows_and_problems(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        '{"id": "l1", "email": "a@example.com", "vip": true}\n'
        "\n"
        '{"id": "l3", "name": ["x"]}\n'
        "not json\n"
        '["an", "array"]\n'
        '{"id": "l6", "note": "\\u0000"}\n'
        '{"id": "l7"}',  # no final newline
    )
    result = read_all(path, ImportFormat.JSONL, batch_rows=2)
    assert [(line, d.external_id) for line, d in result["rows"]] == [(1, "l1"), (7, "l7")]
    assert attrs(result["rows"][0][1]) == {"vip": True}
    problems = dict(result["problems"])
    assert list(problems) == [3, 4, 5, 6]
    assert "name must be a string, not an array" in problems[3]
    assert "not valid JSON" in problems[4]
    assert "expected a JSON object, not an array" in problems[5]
    assert "NUL" in problems[6]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,email\nu1,a@example.com\n", "line 1 is not JSON"),
        ('[{"id": "u1"}, {"id": "u2"}]\n', "is the file a JSON array?"),
    ],
    ids=["csv", "json-array"],
)
def test_unreadable_json_lines(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(Unreadable) as caught:
        read_all(_write(tmp_path, content), ImportFormat.JSONL)
    assert message in caught.value.message
    assert caught.value.line == 1


# --------------------------------------------------------------------------- resuming


@pytest.mark.parametrize("fmt", list(ImportFormat))
def test_reading_in_any_batches_gives_the_rows_of_one_read(
    tmp_path: Path, fmt: ImportFormat
) -> None:
    # given the same 40 members (some bad) in each format
    rows = [
        {"id": f"r{i}", "email": "bad" if i % 7 == 0 else f"r{i}@example.com", "n": i}
        for i in range(40)
    ]
    if fmt is ImportFormat.CSV:
        text = "id,email,n\n" + "".join(f"{r['id']},{r['email']},{r['n']}\n" for r in rows)
    elif fmt is ImportFormat.JSONL:
        text = "".join(
            f'{{"id": "{r["id"]}", "email": "{r["email"]}", "n": {r["n"]}}}\n' for r in rows
        )
    else:
        text = (
            "[\n"
            + ",\n".join(
                f'{{"id": "{r["id"]}", "email": "{r["email"]}", "n": {r["n"]}}}' for r in rows
            )
            + "\n]\n"
        )
    path = _write(tmp_path, text)
    # when it is read whole, and in batches of 1 and 3 each from a new reader
    whole = read_all(path, fmt, batch_rows=1000)
    # then every way gives the same rows, lines and problems
    for size in (1, 3):
        assert read_all(path, fmt, batch_rows=size) == whole
    assert whole["read"] == 40
    assert len(whole["rows"]) == 34
    assert len(whole["problems"]) == 6


def test_json_too_deep_is_a_problem_in_json_lines_and_in_a_csv_attributes_cell(
    tmp_path: Path,
) -> None:
    # given rows whose attributes nest just within MAX_JSON_DEPTH (32) and one level past it,
    # in JSON Lines and in a CSV attributes column (which also holds a \u0000 escape)
    within = "[" * 31 + "1" + "]" * 31
    past = "[" * 32 + "1" + "]" * 32
    lines = _write(tmp_path, f'{{"id": "ok", "a": {within}}}\n{{"id": "deep", "a": {past}}}\n')
    csv_path = tmp_path / "deep.csv"
    csv_path.write_text(
        "id,attributes\n"
        f'ok,"{{""a"": {within}}}"\n'
        f'deep,"{{""a"": {past}}}"\n'
        'nul,"{""a"": ""\\u0000""}"\n',
        encoding="utf-8",
    )
    # when they are read
    from_lines = read_all(lines, ImportFormat.JSONL)
    from_csv = read_all(csv_path, ImportFormat.CSV)
    # then the row within the limit is read, and the others are problems naming what is wrong
    assert [d.external_id for _, d in from_lines["rows"]] == ["ok"]
    assert "over 32 levels deep (MAX_JSON_DEPTH)" in dict(from_lines["problems"])[2]
    assert [d.external_id for _, d in from_csv["rows"]] == ["ok"]
    problems = dict(from_csv["problems"])
    assert "over 32 levels deep (MAX_JSON_DEPTH)" in problems[3]
    assert "NUL" in problems[4]
