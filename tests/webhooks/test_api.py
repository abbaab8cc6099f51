"""createWebhook / updateWebhook / deleteWebhook, webhooks and webhook(id): ADMIN only, per
site, with userErrors for what cannot be saved."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from app.auth.models import Role
from tests.factories import Api, segment
from tests.webhooks.conftest import (
    CREATE,
    DELETE,
    UPDATE,
    WEBHOOK,
    WEBHOOKS,
    HookApp,
    create,
    webhook,
)


async def _errors(api: Api, query: str, variables: dict[str, Any], name: str) -> list[Any]:
    payload = (await api.query(query, variables))[name]
    errors: list[Any] = payload["userErrors"]
    return errors


async def test_create_returns_the_secret_once(hooks: Api) -> None:
    # given a segment
    seg = await segment(hooks, "Gold")
    # when an admin creates a webhook for it
    made = await create(
        hooks, url="https://hooks.example.invalid/in", segmentIds=[seg["id"]], description="CRM"
    )
    # then the answer holds the secret: whsec_ and the base64 of at least 24 random bytes
    secret = made["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert (made["url"], made["segmentIds"], made["description"], made["enabled"]) == (
        "https://hooks.example.invalid/in",
        [seg["id"]],
        "CRM",
        True,
    )
    # and nothing else ever shows it again
    assert (await webhook(hooks, made["id"]))["secret"] is None
    listed = (await hooks.query(WEBHOOKS))["webhooks"]
    assert [(w["id"], w["secret"]) for w in listed] == [(made["id"], None)]
    # and another webhook gets another secret
    other = await create(hooks, url="https://hooks.example.invalid/other")
    assert other["secret"] != secret and other["segmentIds"] is None


async def test_update_merges_and_delete_removes(hooks: Api) -> None:
    seg = await segment(hooks, "Gold")
    made = await create(hooks, url="https://hooks.example.invalid/in", segmentIds=[seg["id"]])
    # when the URL changes and the filter is cleared (null: every segment)
    payload = (
        await hooks.query(
            UPDATE,
            {
                "id": made["id"],
                "input": {"url": "https://hooks.example.invalid/2", "segmentIds": None},
            },
        )
    )["updateWebhook"]
    assert payload["userErrors"] == []
    got = payload["webhook"]
    # then only what was sent changed
    assert (got["url"], got["segmentIds"], got["enabled"], got["secret"]) == (
        "https://hooks.example.invalid/2",
        None,
        True,
        None,
    )
    # when it is switched off, then on
    off = await hooks.query(UPDATE, {"id": made["id"], "input": {"enabled": False}})
    assert off["updateWebhook"]["webhook"]["enabled"] is False
    # when it is deleted
    deleted = (await hooks.query(DELETE, {"id": made["id"]}))["deleteWebhook"]
    assert deleted == {"deletedId": made["id"], "userErrors": []}
    assert await webhook(hooks, made["id"]) is None
    again = (await hooks.query(DELETE, {"id": made["id"]}))["deleteWebhook"]
    assert [e["code"] for e in again["userErrors"]] == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://hooks.example.com/in", "start with http:// or https:// (it starts with ftp:)"),
        ("hooks.example.com/in", "start with http:// or https:// (it has no scheme)"),
        ("https:///in", "no host"),
        ("https://user:pw@hooks.example.com/in", "credentials"),
        ("https://hooks.example.invalid:99999/in", "not a valid URL (Port out of range"),
        ("http://[::1/in", "not a valid URL (Invalid IPv6 URL): give an absolute http(s) URL"),
        ("https://hooks.example.invalid/a b", "spaces"),
        ("https://" + "a" * 2050 + ".com/", "limit"),
        # a host the resolver cannot encode (it answered INTERNAL)
        ("https://" + "a" * 64 + ".example.com/in", "not a valid host name"),
        ("https://hooks..example.com/in", "not a valid host name"),
        ("https://.example.com/in", "not a valid host name"),
    ],
)
async def test_a_bad_url_is_refused(hooks: Api, url: str, says: str) -> None:
    errors = await _errors(hooks, CREATE, {"input": {"url": url}}, "createWebhook")
    assert [(e["field"], e["code"]) for e in errors] == [(["input", "url"], "INVALID")]
    assert says in errors[0]["message"]
    assert (await hooks.query(WEBHOOKS))["webhooks"] == []


async def test_an_update_to_a_host_that_is_no_host_name_is_refused(hooks: Api) -> None:
    made = await create(hooks, url="https://hooks.example.invalid/in")

    payload = (await hooks.query(UPDATE, {"id": made["id"], "input": {"url": "https://a..b/in"}}))[
        "updateWebhook"
    ]

    assert [(e["field"], e["code"]) for e in payload["userErrors"]] == [
        (["input", "url"], "INVALID")
    ]
    assert (await webhook(hooks, made["id"]))["url"] == "https://hooks.example.invalid/in"


async def test_unknown_and_other_sites_segments_are_refused(hooks: Api, other_api: Api) -> None:
    # given a segment of this site and one of another site
    mine = await segment(hooks, "Gold")
    theirs = await segment(other_api, "Theirs")
    for ids, index in (([mine["id"], "999999"], "1"), ([theirs["id"]], "0"), (["x"], "0")):
        # when a webhook names it
        errors = await _errors(
            hooks,
            CREATE,
            {"input": {"url": "https://hooks.example.invalid/in", "segmentIds": ids}},
            "createWebhook",
        )
        # then it is refused, saying which, as an unknown id (another site's is not told apart)
        assert [(e["field"], e["code"]) for e in errors] == [
            (["input", "segmentIds", index], "NOT_FOUND")
        ]
    made = await create(hooks, url="https://hooks.example.invalid/in")
    errors = await _errors(
        hooks, UPDATE, {"id": made["id"], "input": {"segmentIds": [theirs["id"]]}}, "updateWebhook"
    )
    assert [e["code"] for e in errors] == ["NOT_FOUND"]
    errors = await _errors(
        hooks, UPDATE, {"id": made["id"], "input": {"segmentIds": []}}, "updateWebhook"
    )
    assert [e["code"] for e in errors] == ["INVALID"]
    assert (await webhook(hooks, made["id"]))["segmentIds"] is None


async def test_errors_name_the_input_fields(hooks: Api) -> None:
    # given a webhook
    made = await create(hooks, url="https://hooks.example.invalid/in")
    too_long = "d" * 2001  # over MAX_DESCRIPTION_LENGTH
    for query, variables, name in (
        (
            CREATE,
            {"input": {"url": "https://hooks.example.invalid/2", "description": too_long}},
            "createWebhook",
        ),
        (UPDATE, {"id": made["id"], "input": {"description": too_long}}, "updateWebhook"),
    ):
        # when a description is over the limit
        errors = await _errors(hooks, query, variables, name)
        # then the error names the input's field
        assert [(e["field"], e["code"]) for e in errors] == [(["input", "description"], "INVALID")]
    # when an update clears what cannot be cleared
    for field in ("url", "enabled"):
        errors = await _errors(
            hooks, UPDATE, {"id": made["id"], "input": {field: None}}, "updateWebhook"
        )
        # then it is refused at that field of the input
        assert [(e["field"], e["code"]) for e in errors] == [(["input", field], "INVALID")]
    kept = await webhook(hooks, made["id"])
    assert (kept["url"], kept["enabled"]) == ("https://hooks.example.invalid/in", True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",  # loopback
        "http://localhost/hook",  # a name that resolves to loopback
        "http://[::1]/hook",
        "http://10.1.2.3/hook",  # private
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",  # link-local: the cloud metadata service
        "http://0.0.0.0/hook",  # unspecified
        "http://224.0.0.1/hook",  # multicast
        "http://[::ffff:127.0.0.1]/hook",  # loopback, mapped into IPv6
        "http://100.64.0.1/hook",  # shared address space (carrier-grade NAT)
    ],
)
async def test_private_addresses_are_refused_unless_allowed(hook_app: HookApp, url: str) -> None:
    # given the default: private networks not allowed
    async with hook_app(webhook_allow_private_networks=False) as strict:
        errors = await _errors(strict, CREATE, {"input": {"url": url}}, "createWebhook")
        assert [(e["field"], e["code"]) for e in errors] == [(["input", "url"], "INVALID")]
        # saying what the address is, and how the server would allow it
        message = errors[0]["message"]
        assert " address: webhooks go to public addresses only; " in message, message
        assert message.endswith("the server must run with WEBHOOK_ALLOW_PRIVATE_NETWORKS=true")
        made = await create(strict, url="https://93.184.215.14/hook")  # a public address
        errors = await _errors(
            strict, UPDATE, {"id": made["id"], "input": {"url": url}}, "updateWebhook"
        )
        assert [e["code"] for e in errors] == ["INVALID"]
        assert (await webhook(strict, made["id"]))["url"] == "https://93.184.215.14/hook"
    # when they are allowed, the same URL is taken
    async with hook_app(webhook_allow_private_networks=True) as lax:
        assert (await create(lax, url=url))["url"] == url


async def test_only_an_admin_sees_or_changes_webhooks(hooks: Api) -> None:
    made = await create(hooks, url="https://hooks.example.invalid/in")
    for role in (Role.WRITER, Role.READER):
        caller = await hooks.with_role(role)
        for query, variables in (
            (CREATE, {"input": {"url": "https://hooks.example.invalid/x"}}),
            (UPDATE, {"id": made["id"], "input": {"enabled": False}}),
            (DELETE, {"id": made["id"]}),
            (WEBHOOKS, {}),
            (WEBHOOK, {"id": made["id"]}),
        ):
            body = await caller.raw(query, variables)
            assert not any((body["data"] or {}).values())
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    found = await webhook(hooks, made["id"])
    assert found["enabled"] is True
    assert len((await hooks.query(WEBHOOKS))["webhooks"]) == 1


async def test_another_sites_webhook_is_invisible_and_untouchable(
    hooks: Api, other_api: Api
) -> None:
    made = await create(hooks, url="https://hooks.example.invalid/in")
    # the other site neither sees it
    assert (await other_api.query(WEBHOOKS))["webhooks"] == []
    assert (await other_api.query(WEBHOOK, {"id": made["id"]}))["webhook"] is None
    # nor changes or deletes it
    errors = await _errors(
        other_api, UPDATE, {"id": made["id"], "input": {"enabled": False}}, "updateWebhook"
    )
    assert [(e["field"], e["code"]) for e in errors] == [(["id"], "NOT_FOUND")]
    errors = await _errors(other_api, DELETE, {"id": made["id"]}, "deleteWebhook")
    assert [e["code"] for e in errors] == ["NOT_FOUND"]
    assert (await webhook(hooks, made["id"]))["enabled"] is True
