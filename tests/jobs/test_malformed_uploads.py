"""A malformed GraphQL multipart request (a file upload) is refused with a coded 400 in
JSON, and an Upload given anything but a file is BAD_USER_INPUT: never an HTTP 500, plain
text, or an INTERNAL error. Nothing is imported from a request refused."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from app.jobs.models import ImportJob
from tests.factories import Api

IMPORT = """mutation($f: Upload!) {
  importMembers(input: {file: $f, format: CSV}) { job { id } userErrors { code message } }
}"""
FILE = ("members.csv", b"id\nm1\n", "text/csv")


def operations(variables: dict[str, Any]) -> str:
    return orjson.dumps({"query": IMPORT, "variables": variables}).decode()


# (form fields, files) of each malformed request, and a word its message holds
MALFORMED: dict[str, tuple[dict[str, str], dict[str, Any], str]] = {
    "a map path past the end of a list": (
        {"operations": operations({"f": []}), "map": '{"0": ["variables.f.5"]}'},
        {"0": FILE},
        "path",
    ),
    "a map path indexing a list by a word": (
        {"operations": operations({"f": [None]}), "map": '{"0": ["variables.f.x"]}'},
        {"0": FILE},
        "path",
    ),
    "a map path into a string": (
        {"operations": operations({"f": "text"}), "map": '{"0": ["variables.f.x"]}'},
        {"0": FILE},
        "path",
    ),
    "map giving a file a number": (
        {"operations": operations({"f": None}), "map": '{"0": 5}'},
        {"0": FILE},
        "list of paths",
    ),
    "map giving a file a number as a path": (
        {"operations": operations({"f": None}), "map": '{"0": [5]}'},
        {"0": FILE},
        "list of paths",
    ),
    "map naming a form field that is no file": (
        {"operations": operations({"f": None}), "map": '{"0": ["variables.f"]}', "0": "text"},
        {"1": FILE},  # a file too, which makes the body multipart
        "not a file",
    ),
    "operations sent as a file": (
        {"map": "{}"},
        {"operations": ("o.json", operations({"f": None}).encode(), "application/json")},
        "not files",
    ),
    "map sent as a file": (
        {"operations": operations({"f": None})},
        {"map": ("m.json", b'{"0": ["variables.f"]}', "application/json"), "0": FILE},
        "not files",
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
async def test_a_malformed_multipart_request_is_a_coded_400(api: Api, case: str) -> None:
    data, files, word = MALFORMED[case]

    # when it is posted
    response = await api.client.post(
        "/graphql", data=data, files=files, headers={"Authorization": f"Bearer {api.key}"}
    )

    # then it is refused as a bad request, in JSON, saying what is wrong
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert word in error["message"]
    # and nothing is imported
    assert await ImportJob.all().count() == 0


@pytest.mark.parametrize(
    "body",
    [
        b"--x\r\n",  # no boundary in the Content-Type
        b"".join(
            b'--x\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nv\r\n' % i
            for i in range(1001)
        )
        + b"--x--\r\n",  # more fields than Starlette's parser takes
    ],
    ids=["no boundary", "too many fields"],
)
async def test_a_multipart_body_the_parser_refuses_is_a_coded_400_in_json(
    api: Api, body: bytes
) -> None:
    content_type = "multipart/form-data" + ("; boundary=x" if body.endswith(b"--\r\n") else "")

    # when it is posted
    response = await api.client.post(
        "/graphql",
        content=body,
        headers={"Authorization": f"Bearer {api.key}", "Content-Type": content_type},
    )

    # then the parser's reason is said in a GraphQL-shaped body, not plain text
    assert response.status_code == 400, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert error["message"].startswith("Unable to parse the multipart body")


@pytest.mark.parametrize("value", ["members.csv", {"filename": "members.csv"}, 5])
async def test_an_upload_variable_given_a_json_value_is_bad_user_input(
    api: Api, value: object
) -> None:
    # when importMembers is sent as JSON, its file a JSON value
    body = await api.raw(IMPORT, {"f": value})

    # then the variable is refused, naming what an Upload takes
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", body
    assert "Upload takes a file" in error["message"]
    assert await ImportJob.all().count() == 0


async def test_an_upload_given_a_literal_is_refused_at_validation(api: Api) -> None:
    body = await api.raw(
        'mutation { importMembers(input: {file: "members.csv", format: CSV}) { job { id } } }'
    )

    [error] = body["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED", body
    assert "Upload takes a file" in error["message"]
