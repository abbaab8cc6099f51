"""A refused idempotency key is named where the client put it: ``input.idempotencyKey`` for
the mutations taking an input, ``idempotencyKey`` for applyMembershipChanges (an argument)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import Api, companies, members, segment

ERRORS = "userErrors { field message code }"

BY_INPUT = {
    "updateSegmentMembers": "UpdateSegmentMembersInput",
    "updateSegmentCompanies": "UpdateSegmentCompaniesInput",
    "updateSegmentExclusions": "UpdateSegmentExclusionsInput",
    "moveSegmentMembers": "MoveSegmentMembersInput",
    "sendSegmentEmail": "SendSegmentEmailInput",
}

BATCH = f"""
mutation($changes: [MembershipChangeInput!]!, $key: String) {{
  applyMembershipChanges(changes: $changes, idempotencyKey: $key) {{ {ERRORS} }}
}}
"""


def _inputs(name: str, seg: str, other: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two different inputs for the mutation: the first succeeds, the second differs."""
    if name == "updateSegmentCompanies":
        return (
            {"segmentId": seg, "companyIds": ["c1"], "mode": "ADD"},
            {"segmentId": seg, "companyIds": ["c2"], "mode": "ADD"},
        )
    if name == "moveSegmentMembers":
        return (
            {"fromSegmentId": seg, "toSegmentId": other, "memberIds": ["m1"]},
            {"fromSegmentId": seg, "toSegmentId": other, "memberIds": ["m2"]},
        )
    if name == "sendSegmentEmail":
        return (
            {"segmentId": seg, "subject": "Hi", "text": "one"},
            {"segmentId": seg, "subject": "Hi", "text": "two"},
        )
    return (
        {"segmentId": seg, "memberIds": ["m1"], "mode": "ADD"},
        {"segmentId": seg, "memberIds": ["m2"], "mode": "ADD"},
    )


async def _setup(api: Api) -> tuple[str, str]:
    await members(api, "m1", "m2", email="m@example.com")
    await companies(api, "c1", "c2")
    seg = await segment(api, "From", memberIds=["m1", "m2"])
    other = await segment(api, "To")
    return seg["id"], other["id"]


async def _call(api: Api, name: str, input: dict[str, Any]) -> dict[str, Any]:
    query = f"mutation($input: {BY_INPUT[name]}!) {{ {name}(input: $input) {{ {ERRORS} }} }}"
    payload: dict[str, Any] = (await api.query(query, {"input": input}))[name]
    return payload


@pytest.mark.parametrize("name", list(BY_INPUT))
async def test_a_reused_key_with_another_input_is_named_in_the_input(api: Api, name: str) -> None:
    # given a mutation done once with a key
    seg, other = await _setup(api)
    first, second = _inputs(name, seg, other)
    assert (await _call(api, name, {**first, "idempotencyKey": "k"}))["userErrors"] == []
    # when the key comes again with another input
    payload = await _call(api, name, {**second, "idempotencyKey": "k"})
    # then the mismatch names the key inside the input, where the client put it
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("IDEMPOTENCY_MISMATCH", ["input", "idempotencyKey"])


@pytest.mark.parametrize("name", list(BY_INPUT))
async def test_an_empty_key_is_named_in_the_input(api: Api, name: str) -> None:
    seg, other = await _setup(api)
    first, _ = _inputs(name, seg, other)
    payload = await _call(api, name, {**first, "idempotencyKey": ""})
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", "idempotencyKey"])


async def test_the_batchs_key_is_named_at_its_argument(api: Api) -> None:
    # given a batch done once with a key
    seg, _ = await _setup(api)
    change = {"segmentId": seg, "mode": "DELETE", "memberIds": ["m1"]}
    data = await api.query(BATCH, {"changes": [change], "key": "b"})
    assert data["applyMembershipChanges"]["userErrors"] == []
    # when the key comes again with another batch
    data = await api.query(BATCH, {"changes": [{**change, "memberIds": ["m2"]}], "key": "b"})
    # then the mismatch names the top-level argument
    [error] = data["applyMembershipChanges"]["userErrors"]
    assert (error["code"], error["field"]) == ("IDEMPOTENCY_MISMATCH", ["idempotencyKey"])
    # and an empty key too
    data = await api.query(BATCH, {"changes": [change], "key": ""})
    [error] = data["applyMembershipChanges"]["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["idempotencyKey"])
