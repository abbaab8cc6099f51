"""sendSegmentEmail and emailCampaign over GraphQL, with no worker running (the session app
has none): recipients frozen at the call, selected members, limits, idempotency, audit,
roles and tenancy. Sending itself is tested in test_delivery.py."""

from __future__ import annotations

from typing import Any

import pytest

from app.auth.models import Role
from app.email.models import EmailCampaign, EmailDelivery
from app.settings import get_settings
from tests.email.conftest import CAMPAIGN, SEND, campaign, send, sent_campaign
from tests.factories import Api, members, segment

EVENTS = """
query($id: ID!) {
  segment(id: $id) { events { edges { node { kind actor count sampleIds } } } }
}
"""

UPDATE_MEMBERS = """
mutation($input: UpdateSegmentMembersInput!) {
  updateSegmentMembers(input: $input) { added userErrors { code } }
}
"""


async def _audience(api: Api) -> dict[str, Any]:
    """ann and bob mailable, cid without email, dan and eve opted out (eve only as a string)."""
    await members(api, "ann", email="ann@example.com", name="Ann")
    await members(api, "bob", email="bob@example.com", name="Bob")
    await members(api, "cid", name="Cid")
    await members(api, "dan", email="dan@example.com", attributes={"email_opt_out": True})
    await members(api, "eve", email="eve@example.com", attributes={"email_opt_out": "yes"})
    await members(api, "zed", email="zed@example.com")  # not in the segment
    return await segment(api, "News", memberIds=["ann", "bob", "cid", "dan", "eve"])


def _recipients(c: dict[str, Any]) -> list[tuple[str, str, str]]:
    return [
        (e["node"]["memberId"], e["node"]["email"], e["node"]["status"])
        for e in c["deliveries"]["edges"]
    ]


async def _stored() -> tuple[int, int]:
    return await EmailCampaign.all().count(), await EmailDelivery.all().count()


async def test_send_freezes_members_with_an_email_and_no_opt_out(api: Api) -> None:
    # given a segment of five members: one without email, one opted out
    seg = await _audience(api)
    # when an email is sent to it
    result = await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="Hello {{name}}")
    # then the campaign is PENDING at once, with one delivery per mailable member
    assert result["status"] == "PENDING"
    assert result["segment"] == {"id": seg["id"]}
    assert (result["recipients"], result["optedOut"], result["withoutEmail"]) == (3, 1, 1)
    assert (result["sent"], result["failed"]) == (0, 0)
    c = await campaign(api, result["id"])
    assert _recipients(c) == [
        ("ann", "ann@example.com", "PENDING"),
        ("bob", "bob@example.com", "PENDING"),
        ("eve", "eve@example.com", "PENDING"),  # only JSON true opts out
    ]


async def test_recipients_are_frozen_when_the_campaign_is_made(api: Api) -> None:
    # given a campaign to a segment
    seg = await _audience(api)
    result = await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="Hello")
    # when a member joins the segment and another changes address afterwards
    data = await api.query(
        UPDATE_MEMBERS, {"input": {"segmentId": seg["id"], "memberIds": ["zed"], "mode": "ADD"}}
    )
    assert data["updateSegmentMembers"]["added"] == 1
    await members(api, "ann", email="ann@new.example.com")
    # then the campaign's recipients are those of the moment it was made
    c = await campaign(api, result["id"])
    assert [(m, e) for m, e, _ in _recipients(c)] == [
        ("ann", "ann@example.com"),
        ("bob", "bob@example.com"),
        ("eve", "eve@example.com"),
    ]
    assert c["recipients"] == 3


async def test_selected_members_only(api: Api) -> None:
    seg = await _audience(api)
    result = await sent_campaign(
        api, segmentId=seg["id"], subject="Hi", text="x", memberIds=["bob", "dan", "bob"]
    )
    # bob is mailed; dan is a member but opted out; a repeated id counts once
    assert (result["recipients"], result["optedOut"], result["withoutEmail"]) == (1, 1, 0)
    assert [m for m, _, _ in _recipients(await campaign(api, result["id"]))] == ["bob"]


async def test_selected_ids_that_are_not_members_are_refused_and_nothing_is_stored(
    api: Api,
) -> None:
    # given a segment, a site member outside it (zed) and an id naming no one
    seg = await _audience(api)
    # when both are selected beside a real member
    payload = await send(
        api, segmentId=seg["id"], subject="Hi", text="x", memberIds=["ann", "zed", "ghost"]
    )
    # then the call is refused naming them, and no campaign or delivery exists
    assert payload["campaign"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "NOT_FOUND"
    assert error["field"] == ["input", "memberIds"]
    assert "'zed'" in error["message"] and "'ghost'" in error["message"]
    assert "'ann'" not in error["message"]
    assert await _stored() == (0, 0)


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"subject": "  "}, "INVALID", "subject"),
        ({"subject": "s" * 256}, "TOO_LARGE", "subject"),
        ({"text": ""}, "INVALID", "text"),
        ({"text": "é" * (128 * 1024 + 1)}, "TOO_LARGE", "text"),  # 2 bytes each in UTF-8
        ({"html": "<p>" + "x" * 256 * 1024 + "</p>"}, "TOO_LARGE", "html"),
        ({"memberIds": []}, "INVALID", "memberIds"),
        ({"segmentId": "999999"}, "NOT_FOUND", "segmentId"),
        ({"segmentId": "not-an-id"}, "NOT_FOUND", "segmentId"),
    ],
)
async def test_bad_input_is_a_user_error_and_stores_nothing(
    api: Api, change: dict[str, Any], code: str, field: str
) -> None:
    seg = await _audience(api)
    payload = await send(api, **{"segmentId": seg["id"], "subject": "Hi", "text": "x", **change})
    assert payload["campaign"] is None
    assert [(e["code"], e["field"]) for e in payload["userErrors"]] == [(code, ["input", field])]
    assert await _stored() == (0, 0)


async def test_more_recipients_than_the_limit_is_too_large_before_anything_is_stored(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a limit of 2 recipients and a segment with 3 mailable members
    seg = await _audience(api)
    monkeypatch.setenv("MAX_EMAIL_RECIPIENTS", "2")
    get_settings.cache_clear()
    try:
        payload = await send(api, segmentId=seg["id"], subject="Hi", text="x")
        # selecting within the limit still works
        selected = await send(
            api, segmentId=seg["id"], subject="Hi", text="x", memberIds=["ann", "bob"]
        )
    finally:
        monkeypatch.delenv("MAX_EMAIL_RECIPIENTS")
        get_settings.cache_clear()
    # then the whole segment is refused and only the selection was stored
    assert payload["campaign"] is None
    [error] = payload["userErrors"]
    assert error["code"] == "TOO_LARGE"
    assert "2" in error["message"]
    assert selected["campaign"]["recipients"] == 2
    assert await _stored() == (1, 2)


async def test_a_segment_without_recipients_succeeds_at_once(api: Api) -> None:
    await members(api, "cid", name="No email")
    seg = await segment(api, "Quiet", memberIds=["cid"])
    result = await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="x")
    c = await campaign(api, result["id"])
    assert (c["status"], c["recipients"], c["withoutEmail"]) == ("SUCCEEDED", 0, 1)
    assert c["finishedAt"] is not None


async def test_the_send_is_audited_as_email_sent(api: Api) -> None:
    seg = await _audience(api)
    await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="x")
    data = await api.query(EVENTS, {"id": seg["id"]})
    newest = data["segment"]["events"]["edges"][0]["node"]
    assert newest == {
        "kind": "EMAIL_SENT",
        "actor": "test-admin",
        "count": 3,
        "sampleIds": ["ann", "bob", "eve"],
    }


async def test_idempotency_key_replays_the_first_campaign(api: Api) -> None:
    seg = await _audience(api)
    first = await sent_campaign(
        api, segmentId=seg["id"], subject="Hi", text="x", idempotencyKey="k1"
    )
    again = await sent_campaign(
        api, segmentId=seg["id"], subject="Hi", text="x", idempotencyKey="k1"
    )
    assert again["id"] == first["id"]
    assert await _stored() == (1, 3)
    other = await send(api, segmentId=seg["id"], subject="Other", text="x", idempotencyKey="k1")
    assert other["campaign"] is None
    assert [e["code"] for e in other["userErrors"]] == ["IDEMPOTENCY_MISMATCH"]
    assert await _stored() == (1, 3)


async def test_reader_cannot_send_but_can_read(api: Api) -> None:
    seg = await _audience(api)
    made = await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="x")
    reader = await api.with_role(Role.READER)
    body = await reader.raw(SEND, {"input": {"segmentId": seg["id"], "subject": "s", "text": "t"}})
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await _stored() == (1, 3)
    read = await reader.query(CAMPAIGN, {"id": made["id"]})
    assert read["emailCampaign"]["recipients"] == 3


async def test_writer_can_send(api: Api) -> None:
    seg = await _audience(api)
    writer = await api.with_role(Role.WRITER)
    result = await sent_campaign(writer, segmentId=seg["id"], subject="Hi", text="x")
    assert result["recipients"] == 3


async def test_another_sites_segment_and_campaign_do_not_exist_for_it(
    api: Api, other_api: Api
) -> None:
    # given a campaign of site acme
    seg = await _audience(api)
    made = await sent_campaign(api, segmentId=seg["id"], subject="Hi", text="x")
    # when site globex sends to acme's segment, or reads acme's campaign
    payload = await send(other_api, segmentId=seg["id"], subject="Hi", text="x")
    read = await other_api.query(CAMPAIGN, {"id": made["id"]})
    # then both are answered as for ids that do not exist, and nothing was stored
    assert payload["campaign"] is None
    assert [e["code"] for e in payload["userErrors"]] == ["NOT_FOUND"]
    assert read["emailCampaign"] is None
    assert await _stored() == (1, 3)
    # and globex's own members of the same ids are never acme's recipients
    await members(other_api, "ann", email="ann@globex.example")
    own = await segment(other_api, "Globex news", memberIds=["ann"])
    theirs = await sent_campaign(other_api, segmentId=own["id"], subject="Hi", text="x")
    c = await campaign(other_api, theirs["id"])
    assert [(e["node"]["memberId"], e["node"]["email"]) for e in c["deliveries"]["edges"]] == [
        ("ann", "ann@globex.example")
    ]
    assert (await campaign(api, made["id"]))["recipients"] == 3
