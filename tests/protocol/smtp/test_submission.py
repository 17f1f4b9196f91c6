"""Submission end to end with real clients: STARTTLS and implicit TLS, AUTH, policy
replies, and a 250 only once the message and its rows are committed."""

from __future__ import annotations

import smtplib

import aiosmtplib
import pytest

from mailserver.queue.claim import any_due
from tests.integration.directory.seed import PASSWORD
from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    NOT_MINE,
    SHARED,
    SUSPENDED,
    Mailserver,
    in_thread,
    message,
    smtp_implicit,
    smtp_starttls,
)


def send(server: Mailserver, raw: bytes, to: list[str], sender: str = DOCTOR) -> tuple[int, bytes]:
    with smtp_starttls(server) as client:
        client.mail(sender)
        for rcpt in to:
            code, text = client.rcpt(rcpt)
            assert code == 250, text
        return client.data(raw)


async def test_starttls_auth_and_queue(mailserver_any_db: Mailserver) -> None:
    server = mailserver_any_db
    code, text = await in_thread(send, server, message(), [COLLEAGUE])
    assert code == 250
    assert text.startswith(b"2.0.0 Ok: queued as ")
    queue_id = text.decode().rsplit(" ", 1)[1]
    messages = await server.messages()
    assert [m.id for m in messages] == [queue_id]
    assert [(d.recipient, d.status) for d in await server.deliveries()] == [(COLLEAGUE, "queued")]
    assert await any_due(server.db)
    actions = [a[1] for a in await server.audit_actions()]
    assert "smtp.accept" in actions and "auth.success" in actions


async def test_implicit_tls_with_aiosmtplib(mailserver: Mailserver) -> None:
    client = aiosmtplib.SMTP(
        hostname="127.0.0.1", port=mailserver.submissions.port, use_tls=True,
        tls_context=mailserver.tls_client(),
    )
    await client.connect()
    await client.login(DOCTOR, PASSWORD)
    errors, response = await client.sendmail(DOCTOR, [COLLEAGUE, SHARED], message(to=COLLEAGUE))
    await client.quit()
    assert errors == {}
    assert response.startswith("2.0.0 Ok: queued as")
    assert sorted(d.recipient for d in await mailserver.deliveries()) == [SHARED, COLLEAGUE]


async def test_sending_as_a_delegated_mailbox_is_allowed(mailserver: Mailserver) -> None:
    code, _ = await in_thread(send, mailserver, message(sender=SHARED), [COLLEAGUE], SHARED)
    assert code == 250


@pytest.mark.parametrize("sender", [COLLEAGUE, NOT_MINE])
async def test_sending_as_another_mailbox_is_refused_at_mail(
    mailserver: Mailserver, sender: str
) -> None:
    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            return client.mail(sender)

    code, text = await in_thread(attempt)
    assert code == 553
    assert b"5.7.1" in text and b"[sender-owns-envelope]" in text


@pytest.mark.parametrize(
    ("rcpt", "code", "fragment"),
    [
        ("nobody@salus.test", 550, b"5.1.1"),
        (SUSPENDED, 550, b"5.2.1"),
        ("someone@example.test", 550, b"relaying is not allowed"),
    ],
)
async def test_recipient_refusals(mailserver: Mailserver, rcpt: str, code: int, fragment: bytes) -> None:
    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            return client.rcpt(rcpt)

    got, text = await in_thread(attempt)
    assert got == code and fragment in text
    assert b"[recipient-is-local]" in text


async def test_header_from_must_match(mailserver: Mailserver) -> None:
    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            client.rcpt(COLLEAGUE)
            return client.data(message(sender=COLLEAGUE))

    code, text = await in_thread(attempt)
    assert code == 550 and b"[sender-owns-from]" in text
    assert await mailserver.messages() == []


async def test_wrong_password_and_unknown_user_get_the_same_reply(mailserver: Mailserver) -> None:
    def attempt(login: str, password: str) -> str:
        try:
            smtp_implicit(mailserver, login=login, password=password).close()
        except smtplib.SMTPAuthenticationError as exc:
            return f"{exc.smtp_code} {exc.smtp_error.decode()}"
        return "ok"

    wrong = await in_thread(attempt, DOCTOR, "not the password")
    unknown = await in_thread(attempt, "nobody@salus.test", "not the password")
    assert wrong == unknown == "535 5.7.8 Authentication credentials invalid"


async def test_ehlo_advertises_size_and_enhanced_codes_and_auth_only_after_tls(
    mailserver: Mailserver,
) -> None:
    def features() -> tuple[dict[str, str], dict[str, str]]:
        client = smtplib.SMTP("127.0.0.1", mailserver.submission.port, timeout=10)
        client.ehlo("c.test")
        before = dict(client.esmtp_features)
        client.starttls(context=mailserver.tls_client())
        client.ehlo("c.test")
        after = dict(client.esmtp_features)
        client.quit()
        return before, after

    before, after = await in_thread(features)
    assert "starttls" in before and "auth" not in before
    assert after["auth"].split() == ["LOGIN", "PLAIN"]
    assert "enhancedstatuscodes" in after
    assert after["size"] == str(32 * 1024 * 1024)


async def test_message_id_and_date_are_added_when_missing(mailserver: Mailserver) -> None:
    raw = b"From: <doctor.1@salus.test>\r\nTo: <doctor.2@salus.test>\r\nSubject: x\r\n\r\nhi\r\n"
    code, _ = await in_thread(send, mailserver, raw, [COLLEAGUE])
    assert code == 250
    (msg,) = await mailserver.messages()
    assert msg.message_id.endswith("@mail.salus.test")
