"""The worker sending through a real SMTP server (aiosmtpd in this process): content and
templating, HTML escaping, opt-outs, retries on 4xx, 5xx failures, a server down then up,
login, the rate limit, and the .eml outbox when there is no SMTP_URL."""

from __future__ import annotations

import ssl
import time
from collections import deque
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.email.conftest import (
    MailApp,
    MailServer,
    campaign,
    finished,
    free_port,
    sent_campaign,
    smtp_controller,
    until,
)
from tests.factories import Api, members, segment


async def _segment(api: Api, *people: tuple[str, str, str | None], **attrs: Any) -> str:
    for member_id, email, name in people:
        await members(api, member_id, email=email, name=name, **attrs)
    seg = await segment(api, "Readers", memberIds=[p[0] for p in people])
    segment_id: str = seg["id"]
    return segment_id


async def test_each_member_gets_their_own_filled_in_message(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    # given two members with a name, one with a name that looks like markup
    seg = await _segment(
        api, ("u1", "ann@example.com", "Ann"), ("u2", "bo@example.com", '<b>Bo & "Co"</b>')
    )
    async with mail_app(smtp_url=smtp.url, email_from="News <news@shop.example>") as mail:
        # when a campaign with text and HTML is sent
        made = await sent_campaign(
            mail,
            segmentId=seg,
            subject="Hello {{name}}",
            text="Dear {{ name }}, your id is {{id}} and address {{email}}.",
            html="<p>Dear {{name}} ({{email}})</p>",
        )
        result = await finished(mail, made["id"])
    # then each got one message, filled in for them, escaped in HTML only
    assert (result["status"], result["sent"], result["failed"]) == ("SUCCEEDED", 2, 0)
    assert smtp.count_by_recipient() == {"ann@example.com": 1, "bo@example.com": 1}
    [ann] = smtp.to("ann@example.com")
    assert ann.mail_from == "news@shop.example"
    message = ann.message
    assert message["Subject"] == "Hello Ann"
    assert message["From"] == "News <news@shop.example>"
    assert message["To"] == "Ann <ann@example.com>"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content().strip() == ("Dear Ann, your id is u1 and address ann@example.com.")
    assert html.get_content().strip() == "<p>Dear Ann (ann@example.com)</p>"
    bo = smtp.to("bo@example.com")[0].message
    assert bo["Subject"] == 'Hello <b>Bo & "Co"</b>'
    bo_text, bo_html = bo.get_body(("plain",)), bo.get_body(("html",))
    assert bo_text is not None and bo_html is not None
    assert bo_text.get_content().startswith('Dear <b>Bo & "Co"</b>, your id is u2')
    assert bo_html.get_content().strip() == (
        "<p>Dear &lt;b&gt;Bo &amp; &quot;Co&quot;&lt;/b&gt; (bo@example.com)</p>"
    )
    # and the deliveries say when
    c = await campaign(api, made["id"])
    assert all(
        e["node"]["status"] == "SENT" and e["node"]["sentAt"] for e in c["deliveries"]["edges"]
    )
    assert c["startedAt"] is not None and c["finishedAt"] is not None


async def test_text_only_campaign_is_a_plain_message(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(api, ("u1", "ann@example.com", None))
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="Hi {{name}}!")
        await finished(mail, made["id"])
    message = smtp.to("ann@example.com")[0].message
    assert message.get_content_type() == "text/plain"
    assert message.get_content().strip() == "Hi !"  # no name: empty
    assert message["To"] == "ann@example.com"


async def test_opted_out_members_are_not_mailed(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    await members(api, "in", email="in@example.com")
    await members(api, "out", email="out@example.com", attributes={"email_opt_out": True})
    seg = await segment(api, "S", memberIds=["in", "out"])
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg["id"], subject="S", text="t")
        result = await finished(mail, made["id"])
    assert (result["recipients"], result["optedOut"], result["sent"]) == (1, 1, 1)
    assert smtp.count_by_recipient() == {"in@example.com": 1}


async def test_selected_members_are_the_only_ones_mailed(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(
        api,
        ("a", "a@example.com", None),
        ("b", "b@example.com", None),
        ("c", "c@example.com", None),
    )
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t", memberIds=["c", "a"])
        await finished(mail, made["id"])
    assert smtp.count_by_recipient() == {"a@example.com": 1, "c@example.com": 1}


async def test_a_451_is_retried_and_the_member_gets_one_message(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    # given a server that answers 451 to bob's first attempt, then 250
    seg = await _segment(api, ("ann", "ann@example.com", None), ("bob", "bob@example.com", None))
    smtp.replies["bob@example.com"] = deque(["451 4.3.0 Try again later"])
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
    # then bob's delivery took two attempts and he has exactly one message
    assert (result["status"], result["sent"], result["failed"]) == ("SUCCEEDED", 2, 0)
    assert smtp.attempts["bob@example.com"] == 2
    assert smtp.count_by_recipient() == {"ann@example.com": 1, "bob@example.com": 1}
    bob = next(e["node"] for e in result["deliveries"]["edges"] if e["node"]["memberId"] == "bob")
    assert (bob["status"], bob["attempts"]) == ("SENT", 2)
    assert bob["error"] == "451 4.3.0 Try again later"  # the last failed attempt, kept


async def test_a_550_fails_that_delivery_with_the_reply_and_the_others_go_out(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(
        api,
        ("a", "a@example.com", None),
        ("b", "gone@example.com", None),
        ("c", "c@example.com", None),
    )
    smtp.replies["gone@example.com"] = deque(["550 5.1.1 No such user here"])
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
    assert (result["status"], result["sent"], result["failed"]) == ("SUCCEEDED", 2, 1)
    assert smtp.attempts["gone@example.com"] == 1  # never tried again
    assert smtp.count_by_recipient() == {"a@example.com": 1, "c@example.com": 1}
    failed = next(e["node"] for e in result["deliveries"]["edges"] if e["node"]["memberId"] == "b")
    assert failed["status"] == "FAILED"
    assert failed["error"] == "550 5.1.1 No such user here"


async def test_every_delivery_failing_fails_the_campaign(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(api, ("a", "a@example.com", None))
    smtp.replies["a@example.com"] = deque(["554 5.7.1 Rejected"])
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
    assert (result["status"], result["sent"], result["failed"]) == ("FAILED", 0, 1)


async def test_temporary_failures_give_up_after_the_attempt_limit(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(api, ("a", "a@example.com", None))
    smtp.replies["a@example.com"] = deque(["452 4.2.2 Mailbox full"] * 5)
    async with mail_app(smtp_url=smtp.url, email_max_attempts=3) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
    node = result["deliveries"]["edges"][0]["node"]
    assert (node["status"], node["attempts"]) == ("FAILED", 3)
    assert node["error"] == "452 4.2.2 Mailbox full (gave up after 3 attempts)"
    assert smtp.attempts["a@example.com"] == 3


async def test_an_address_no_server_takes_fails_without_being_sent(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    seg = await _segment(api, ("a", "jos\u00e9@example.com", None), ("b", "b@example.com", None))
    async with mail_app(smtp_url=smtp.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
    assert (result["sent"], result["failed"]) == (1, 1)
    bad = next(e["node"] for e in result["deliveries"]["edges"] if e["node"]["memberId"] == "a")
    assert "not an address this service can send to" in bad["error"]
    assert smtp.count_by_recipient() == {"b@example.com": 1}


async def test_a_server_down_then_up_gets_every_message_once(api: Api, mail_app: MailApp) -> None:
    # given a campaign while nothing listens on the SMTP port
    seg = await _segment(api, ("a", "a@example.com", None), ("b", "b@example.com", None))
    server = MailServer(port=free_port())
    async with mail_app(smtp_url=server.url) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")

        async def refused() -> bool:
            c = await campaign(mail, made["id"])
            errors = [e["node"]["error"] or "" for e in c["deliveries"]["edges"]]
            return any("127.0.0.1" in e for e in errors)

        await until(refused, what="the worker to find the server down")
        c = await campaign(mail, made["id"])
        # nothing was lost or counted as an attempt while the server was down (the one
        # worker may be holding one delivery for its next try at the moment we read: that
        # claim is handed back uncounted when the connection is refused again)
        assert c["status"] != "FAILED" and (c["sent"], c["failed"]) == (0, 0)
        nodes = [e["node"] for e in c["deliveries"]["edges"]]
        assert {n["status"] for n in nodes} <= {"PENDING", "SENDING"}
        assert sum(n["status"] == "SENDING" for n in nodes) <= 1
        assert all(n["attempts"] == 0 for n in nodes if n["status"] == "PENDING")
        # when the server comes up
        with smtp_controller(server):
            result = await finished(mail, made["id"])
    # then every member has exactly one message
    assert (result["status"], result["sent"]) == ("SUCCEEDED", 2)
    assert server.count_by_recipient() == {"a@example.com": 1, "b@example.com": 1}


class _Accounts:
    def __init__(self, user: str, password: str) -> None:
        self.user, self.password = user.encode(), password.encode()

    def __call__(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth: Any
    ) -> AuthResult:
        ok = isinstance(auth, LoginPassword) and (auth.login, auth.password) == (
            self.user,
            self.password,
        )
        return AuthResult(success=ok, auth_data=self.user if ok else None)


async def test_starttls_then_login_with_the_url_credentials(
    api: Api, mail_app: MailApp, server_tls: ssl.SSLContext
) -> None:
    # given a server that requires STARTTLS, then a login
    seg = await _segment(api, ("a", "a@example.com", None))
    server = MailServer(port=free_port())
    accounts = _Accounts("mailer", "s3cret/:@")
    with smtp_controller(
        server,
        tls_context=server_tls,
        require_starttls=True,
        authenticator=accounts,
        auth_required=True,
    ):
        # when the URL carries the (percent-encoded) credentials
        url = f"smtp://mailer:s3cret%2F%3A%40@127.0.0.1:{server.port}"
        settings = {"smtp_url": url, "smtp_starttls": "always", "smtp_validate_certs": False}
        async with mail_app(**settings) as mail:
            made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
            result = await finished(mail, made["id"])
    # then the message went through the encrypted, logged-in session
    assert result["sent"] == 1
    assert server.count_by_recipient() == {"a@example.com": 1}
    assert server.sessions == [("mailer", True)]


async def test_smtps_speaks_tls_from_the_first_byte(
    api: Api, mail_app: MailApp, server_tls: ssl.SSLContext
) -> None:
    seg = await _segment(api, ("a", "a@example.com", None))
    server = MailServer(port=free_port())
    with smtp_controller(server, ssl_context=server_tls):
        url = f"smtps://127.0.0.1:{server.port}"
        async with mail_app(smtp_url=url, smtp_validate_certs=False) as mail:
            made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
            result = await finished(mail, made["id"])
    assert result["sent"] == 1
    assert server.sessions == [(None, True)]


async def test_a_refused_login_sends_nothing_and_loses_nothing(
    api: Api, mail_app: MailApp, server_tls: ssl.SSLContext
) -> None:
    seg = await _segment(api, ("a", "a@example.com", None))
    server = MailServer(port=free_port())
    with smtp_controller(
        server,
        tls_context=server_tls,
        authenticator=_Accounts("mailer", "right"),
        auth_required=True,
    ):
        url = f"smtp://mailer:wrong@127.0.0.1:{server.port}"
        settings = {"smtp_url": url, "smtp_validate_certs": False, "smtp_timeout": 0.5}
        async with mail_app(**settings) as mail:
            made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")

            async def refused() -> dict[str, Any] | None:
                node = (await campaign(mail, made["id"]))["deliveries"]["edges"][0]["node"]
                # (aiosmtplib tries PLAIN, then LOGIN, which aiosmtpd leaves unanswered)
                return node if node["error"] and "127.0.0.1" in node["error"] else None

            node = await until(refused, what="the login to be refused")
    assert (node["status"], node["attempts"]) == ("PENDING", 0)
    assert server.received == []


async def test_the_rate_limit_spaces_messages(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    people = [(f"u{i}", f"u{i}@example.com", None) for i in range(6)]
    seg = await _segment(api, *people)
    async with mail_app(smtp_url=smtp.url, email_rate_limit=20) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        await finished(mail, made["id"])
    times = sorted(r.at for r in smtp.received)
    assert len(times) == 6
    # 20 a second: at least 50 ms between one send and the next (5 gaps), with slack for clocks
    assert times[-1] - times[0] >= 5 * 0.05 * 0.9


async def test_without_smtp_url_messages_are_eml_files_in_the_outbox(
    api: Api, mail_app: MailApp, tmp_path: Path
) -> None:
    # given no SMTP_URL and an outbox folder
    seg = await _segment(api, ("a", "a@example.com", "Ann"), ("b", "b@example.com", "Bo"))
    outbox = tmp_path / "outbox"
    async with mail_app(smtp_url=None, email_outbox_dir=str(outbox)) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="Hi {{name}}", text="For {{id}}")
        result = await finished(mail, made["id"])
    # then one .eml file per recipient, in the campaign's folder, with its own content
    assert (result["status"], result["sent"]) == ("SUCCEEDED", 2)
    files = sorted((outbox / f"campaign-{made['id']}").glob("*.eml"))
    assert len(files) == 2
    messages = [message_from_bytes(f.read_bytes(), policy=policy.default) for f in files]
    assert sorted((m["To"], m["Subject"]) for m in messages) == [
        ("Ann <a@example.com>", "Hi Ann"),
        ("Bo <b@example.com>", "Hi Bo"),
    ]
    assert sorted(m.get_content().strip() for m in messages) == ["For a", "For b"]  # type: ignore[attr-defined]
    assert not list(outbox.rglob("*.part"))


def test_the_outbox_is_the_default() -> None:
    from app.email.outbox import OutboxSender
    from app.email.worker import make_sender
    from app.settings import Settings

    settings = Settings(smtp_url=None)
    sender = make_sender(settings)
    assert isinstance(sender, OutboxSender)
    assert Settings.model_fields["email_outbox_dir"].default == "./data/outbox"
    assert sender.folder == Path(settings.email_outbox_dir)


async def test_no_reply_after_data_is_not_retried_so_no_one_is_mailed_twice(
    api: Api, mail_app: MailApp, smtp: MailServer
) -> None:
    # given a server that takes bob's whole message but answers only after the client gave up
    seg = await _segment(api, ("ann", "ann@example.com", None), ("bob", "bob@example.com", None))

    def slow_for_bob(address: str) -> None:
        if address == "bob@example.com":
            time.sleep(0.6)

    smtp.on_data = slow_for_bob
    async with mail_app(smtp_url=smtp.url, smtp_timeout=0.2) as mail:
        made = await sent_campaign(mail, segmentId=seg, subject="S", text="t")
        result = await finished(mail, made["id"])
        await until(lambda: smtp.to("bob@example.com"), what="the server to keep bob's message")
    # then bob's delivery is FAILED as unknown and never tried again: he has one message
    bob = next(e["node"] for e in result["deliveries"]["edges"] if e["node"]["memberId"] == "bob")
    assert (bob["status"], bob["attempts"]) == ("FAILED", 1)
    assert "no reply after the message was sent" in bob["error"]
    assert smtp.attempts["bob@example.com"] == 1
    assert smtp.count_by_recipient() == {"ann@example.com": 1, "bob@example.com": 1}
