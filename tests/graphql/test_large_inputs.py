"""Large inputs take the fast paths at the edge and are judged as the slow ones judge them: a
list of strings checked whole by the input guard (and walked one by one when anything in it is
refused, to name it), and a body's long numbers found without a regular expression."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import build_schema, parse

from app.graphql.input_guard import BadInput, InputLimits, check_request
from app.http.graphql import GraphQLApp

SCHEMA = build_schema(
    """
    type Query {
      lookup(ids: [ID!]!, words: [String!], q: [String], tags: [[String!]]): Int
    }
    """
)
DOCUMENT = parse(
    "query($ids: [ID!]!, $words: [String!], $q: [String], $tags: [[String!]]) {"
    " lookup(ids: $ids, words: $words, q: $q, tags: $tags) }"
)
LIMITS = InputLimits(max_id_length=10, max_search_length=20, max_string_length=30)
MANY = [f"m{i:05d}" for i in range(5000)]


def _refused(variables: dict[str, Any]) -> BadInput:
    with pytest.raises(BadInput) as refused:
        check_request(SCHEMA, DOCUMENT, variables, LIMITS)
    return refused.value


def test_a_long_list_of_good_ids_is_taken() -> None:
    # when thousands of ids at their limit (and words at theirs) are sent
    at_limit = [*MANY, "x" * 10]
    check_request(SCHEMA, DOCUMENT, {"ids": at_limit, "words": ["k" * 30]}, LIMITS)
    # then nothing is refused (the call returns)


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("a\x00b", "NUL"),
        ("a\ud800b", "surrogate"),
        ("x" * 11, "MAX_ID_LENGTH"),
    ],
    ids=["NUL", "surrogate", "too long"],
)
def test_one_bad_id_among_many_is_named_by_its_place(bad: str, words: str) -> None:
    # given a long list of good ids with one bad one in the middle
    ids = [*MANY[:2500], bad, *MANY[2500:]]

    # when it is checked, then it is refused, naming the bad id's place and the limit
    refused = _refused({"ids": ids})
    assert refused.path == ["ids", "2500"], refused.path
    assert words in refused.message, refused.message


def test_each_list_is_held_to_its_own_limit() -> None:
    # a search list is held to the search limit, a list of words to the string limit
    assert "MAX_SEARCH_LENGTH" in _refused({"ids": MANY, "q": ["q" * 21]}).message
    check_request(SCHEMA, DOCUMENT, {"ids": MANY, "q": ["q" * 20]}, LIMITS)
    refused = _refused({"ids": MANY, "words": ["k", "k" * 31]})
    assert refused.path == ["words", "1"] and "MAX_STRING_LENGTH" in refused.message


def test_lists_that_are_not_plain_strings_are_walked_item_by_item() -> None:
    # a list of lists: the inner bad string is found where it is
    refused = _refused({"ids": MANY, "tags": [["a"], ["b", "c\x00"]]})
    assert refused.path == ["tags", "1", "1"], refused.path
    # a list mixing a nested JSON value (the executor's to refuse) with a bad one
    refused = _refused({"ids": ["m1", {"deep": "a\x00"}]})
    assert refused.path[:2] == ["ids", "1"], refused.path


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"n": 18446744073709551616}', 2**64),  # 20 digits: past what orjson reads exactly
        (b'{"n": 1180591620717411303424}', 2**70),
        (b'{"n": 1844674407370955161, "s": "12345678901234567890"}', 1844674407370955161),
    ],
)
def test_long_numbers_in_a_body_are_read_exactly(body: bytes, value: int) -> None:
    app = object.__new__(GraphQLApp)  # decode_json reads nothing of the app
    decoded = app.decode_json(body)
    assert isinstance(decoded, dict) and decoded["n"] == value and type(decoded["n"]) is int
