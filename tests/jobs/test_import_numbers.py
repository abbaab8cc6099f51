"""An imported number the API would refuse (an integer past 64 bits, NaN or an infinity) is
a problem at its row, in every format, as the API refuses it: never a batch that fails at
each retry (an integer orjson cannot write), nor a value lost (NaN and the infinities stored
as null, an integer past 64 bits rounded to a float). The other rows are imported."""

from __future__ import annotations

import pytest

from tests.factories import Api
from tests.jobs.support import import_file

BIG = "99999999999999999999999"

# (format, the file) of each: a good row "ok", then a row "bad" with the number
FILES = {
    "CSV column past 64 bits": ("CSV", f"id,points\nok,1\nbad,{BIG}\n"),
    "CSV column 2^63": ("CSV", "id,points\nok,1\nbad,9223372036854775808\n"),
    "CSV attributes cell past 64 bits": (
        "CSV",
        f'id,attributes\nok,"{{""p"": 1}}"\nbad,"{{""p"": {BIG}}}"\n',
    ),
    "JSON Lines past 64 bits": ("JSONL", f'{{"id": "ok", "p": 1}}\n{{"id": "bad", "p": {BIG}}}\n'),
    "JSON Lines 2^64-1": (
        "JSONL",
        '{"id": "ok", "p": 1}\n{"id": "bad", "p": 18446744073709551615}\n',
    ),
    "JSON array past 64 bits": ("JSON", f'[{{"id": "ok", "p": 1}}, {{"id": "bad", "p": {BIG}}}]'),
    "JSON array NaN": ("JSON", '[{"id": "ok", "p": 1}, {"id": "bad", "p": NaN}]'),
    "JSON array Infinity": ("JSON", '[{"id": "ok", "p": 1}, {"id": "bad", "p": -Infinity}]'),
    "JSON array 1e400": (
        "JSON",
        '[{"id": "ok", "p": 1}, {"id": "bad", "attributes": {"p": 1e400}}]',
    ),
}


@pytest.mark.parametrize("case", list(FILES))
async def test_a_number_the_api_refuses_is_a_problem_at_its_row(api: Api, case: str) -> None:
    fmt, content = FILES[case]

    # when the file is imported (the worker runs its job to the end, once)
    done = await import_file(api, content, fmt)

    # then the job ends, the good row imported, the other a problem saying why
    assert done["status"] == "SUCCEEDED", done
    assert done["created"] == 1
    [problem] = done["problems"]
    assert "integer out of range" in problem["message"] or "not a finite" in problem["message"]
    found = await api.query('{ ok: member(id: "ok") { id } bad: member(id: "bad") { id } }')
    assert found == {"ok": {"id": "ok"}, "bad": None}


async def test_a_number_within_64_bits_is_imported_as_it_is(api: Api) -> None:
    content = '{"id": "m", "p": 9223372036854775807, "n": -9223372036854775808, "f": 1.5}\n'

    done = await import_file(api, content, "JSONL")

    assert done["status"] == "SUCCEEDED" and done["problems"] == [], done
    data = await api.query('{ member(id: "m") { attributes } }')
    assert data["member"]["attributes"] == {
        "p": 9223372036854775807,
        "n": -9223372036854775808,
        "f": 1.5,
    }
