"""Where a webhook may send: public addresses only (unless allowed), checked at the send too,
and the send connects to the addresses checked, never to what the name resolves to later."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from app.webhooks import addresses, sender
from app.webhooks.addresses import AddressError, Target, check, not_public
from tests.factories import Api, segment
from tests.webhooks.conftest import Receiver, Workers, create, deliveries, record, until, webhook


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "private"),  # reserved (Python counts it as private too)
        ("::ffff:10.0.0.1", "private"),  # mapped into IPv6
        ("2002:7f00:1::", "loopback"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::1", "private"),  # 6to4 of 10.0.0.1
        ("2002:808:808::1", None),  # 6to4 of 8.8.8.8
        ("100.64.1.1", "non-public"),  # shared address space
        ("8.8.8.8", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_which_addresses_are_public(address: str, why: str | None) -> None:
    assert not_public(ipaddress.ip_address(address)) == why


async def test_a_name_is_checked_by_every_address_it_resolves_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given a name with a public and a private address
    async def resolve(host: str, port: int) -> tuple[str, ...]:
        return ("93.184.215.14", "10.0.0.7")

    monkeypatch.setattr(addresses, "resolve", resolve)
    # then it is refused for the private one
    with pytest.raises(AddressError, match=r"10\.0\.0\.7, a private address"):
        await check("https://mixed.example.invalid/hook", allow_private=False)
    # and taken when private networks are allowed, with both addresses to connect to
    target = await check("https://mixed.example.invalid/hook", allow_private=True)
    assert (target.host, target.port, target.addresses) == (
        "mixed.example.invalid",
        443,
        ("93.184.215.14", "10.0.0.7"),
    )


async def test_a_send_connects_to_the_checked_address_keeping_the_host_name(
    receiver: Receiver,
) -> None:
    # given a host name that resolves nowhere, checked as resolving to the receiver's address
    target = Target(
        url=f"http://hooks.pinned.invalid:{receiver.port}/hook",
        scheme="http",
        host="hooks.pinned.invalid",
        port=receiver.port,
        addresses=("192.0.2.1", "127.0.0.1"),  # the first does not answer: the next is tried
    )
    # when a delivery is posted to it
    answer = await sender.post(target, b"{}", {"webhook-id": "1"}, 5.0)
    # then it reached the checked address, under its own name (Host header; SNI for https)
    assert (answer.status, answer.ok) == (200, True)
    assert receiver.received[0].headers["host"] == f"hooks.pinned.invalid:{receiver.port}"


async def test_a_name_that_turns_private_after_it_was_saved_is_not_sent_to(
    hooks: Api, receiver: Receiver, workers: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a webhook on a name that resolved to a public address when it was saved
    answers = {"hooks.rebind.invalid": ("93.184.215.14",)}

    async def resolve(host: str, port: int) -> tuple[str, ...]:
        return answers[host]

    monkeypatch.setattr(addresses, "resolve", resolve)
    seg = await segment(hooks, "Gold")
    made = await create(hooks, url=f"http://hooks.rebind.invalid:{receiver.port}/hook")
    # when the name now resolves to the loopback address (where the receiver listens)
    answers["hooks.rebind.invalid"] = ("127.0.0.1",)
    await record(hooks.site.id, seg["id"], ["m-1"])
    workers(webhook_allow_private_networks=False, webhook_retry_base_seconds=60)
    found: dict[str, Any] = await until(lambda: _failed(hooks, made["id"]), what="the refusal")
    # then nothing was sent, and the delivery says why
    assert receiver.received == []
    assert "127.0.0.1, a loopback address" in deliveries(found)[0]["error"]


async def _failed(api: Api, webhook_id: str) -> dict[str, Any] | None:
    found = await webhook(api, webhook_id)
    ds = deliveries(found)
    return found if ds and ds[0]["error"] else None


async def test_an_unanswered_attempt_is_cut_off_at_the_timeout(receiver: Receiver) -> None:
    # given a receiver that never answers
    import asyncio

    receiver.hold = asyncio.Event()
    target = await check(receiver.url, allow_private=True)
    # when a delivery is posted with a short limit
    answer = await sender.post(target, b"{}", {}, 0.3)
    # then the attempt fails with no status, saying so
    assert (answer.status, answer.ok) == (None, False)
    assert answer.error == "no answer within 0.3 s"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """A self-signed certificate for the name hooks.tls.invalid only: (cert, key) files."""
    import subprocess

    folder = tmp_path_factory.mktemp("webhook-tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out", str(cert),
            "-days", "1", "-subj", "/CN=hooks.tls.invalid",
            "-addext", "subjectAltName=DNS:hooks.tls.invalid",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


async def test_https_to_a_checked_address_verifies_the_certificate_of_the_name(
    certificate: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ssl

    from tests.webhooks.conftest import free_port, serving

    cert, key = certificate
    trusted = ssl.create_default_context(cafile=cert)
    monkeypatch.setattr(sender, "_tls", lambda: trusted)
    async with serving(Receiver(port=free_port()), ssl_certfile=cert, ssl_keyfile=key) as tls:
        # given the name of the certificate, pinned to the receiver's address
        named = Target(
            url=f"https://hooks.tls.invalid:{tls.port}/hook",
            scheme="https",
            host="hooks.tls.invalid",
            port=tls.port,
            addresses=("127.0.0.1",),
        )
        # when a delivery is posted, then TLS is made with that name (SNI and verification)
        assert (await sender.post(named, b"{}", {}, 5.0)).status == 200
        assert tls.received[0].headers["host"] == f"hooks.tls.invalid:{tls.port}"
        # and another name on the same address is refused: its certificate does not match
        other = Target(
            url=f"https://other.tls.invalid:{tls.port}/hook",
            scheme="https",
            host="other.tls.invalid",
            port=tls.port,
            addresses=("127.0.0.1",),
        )
        refused = await sender.post(other, b"{}", {}, 5.0)
        assert refused.status is None and "certificate" in (refused.error or "").lower()
        assert len(tls.received) == 1


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://0.0.0.0:9911/", "0.0.0.0 is an unspecified address"),
        ("http://10.1.2.3/", "10.1.2.3 is a private address"),
        ("http://127.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://100.64.0.1/", "100.64.0.1 is a non-public address"),
        ("http://localhost/", "the host 'localhost' resolves to 127.0.0.1, a loopback address"),
    ],
)
async def test_the_refusal_names_the_kind_of_address_with_its_article(url: str, says: str) -> None:
    with pytest.raises(AddressError) as refused:
        await check(url, allow_private=False)
    assert says in str(refused.value)
