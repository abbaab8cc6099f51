"""sendSegmentEmail refuses a subject, text or HTML holding a placeholder other than
{{name}}, {{email}} and {{id}}: a typo never reaches a recipient as typed."""

from __future__ import annotations

from typing import Any

import pytest

from app.email.models import EmailCampaign, EmailDelivery
from tests.email.conftest import send
from tests.factories import Api, members, segment


async def _segment(api: Api) -> str:
    await members(api, "ann", email="ann@example.com", name="Ann")
    seg: dict[str, Any] = await segment(api, "News", memberIds=["ann"])
    return str(seg["id"])


@pytest.mark.parametrize(
    ("field", "template", "named"),
    [
        ("text", "Hello {{name}} {{nope}}", "{{nope}}"),
        ("subject", "{{NAME}}", "{{NAME}}"),
        ("html", "<p>{{ name }} {{ emial }}</p>", "{{ emial }}"),
        ("text", "Hi {{}}", "{{}}"),
    ],
)
async def test_an_unknown_placeholder_is_refused_and_nothing_is_written(
    api: Api, field: str, template: str, named: str
) -> None:
    # given a segment with a mailable member
    seg = await _segment(api)
    # when a campaign is sent with a placeholder that is not name, email or id
    content = {"subject": "Hi {{ id }}", "text": "Dear {{email}}", field: template}
    payload = await send(api, segmentId=seg, **content)
    # then it is refused, naming the placeholder at its input field, and nothing is stored
    assert payload["campaign"] is None
    [error] = payload["userErrors"]
    assert (error["code"], error["field"]) == ("INVALID", ["input", field])
    assert named in error["message"]
    assert (await EmailCampaign.all().count(), await EmailDelivery.all().count()) == (0, 0)


async def test_every_unknown_placeholder_is_named_once(api: Api) -> None:
    seg = await _segment(api)
    payload = await send(
        api, segmentId=seg, subject="Hi", text="{{a}} {{name}} {{b}} {{a}} {{ email }}"
    )
    [error] = payload["userErrors"]
    assert error["field"] == ["input", "text"]
    assert "{{a}}, {{b}}" in error["message"]
    assert error["message"].count("{{a}}") == 1


async def test_known_placeholders_with_spaces_and_lone_braces_are_accepted(api: Api) -> None:
    seg = await _segment(api)
    payload = await send(
        api, segmentId=seg, subject="{{ name }}", text="{{id}} {{ email }} { x } {{ unclosed"
    )
    assert payload["userErrors"] == []
    assert payload["campaign"]["recipients"] == 1
