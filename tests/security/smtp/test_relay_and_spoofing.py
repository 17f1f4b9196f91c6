"""No relay without authentication, none through address tricks, and no sending as
another mailbox by the envelope or by the header."""

from __future__ import annotations

import smtplib

import pytest

from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    NOT_MINE,
    Mailserver,
    RawClient,
    in_thread,
    message,
    raw_logged_in,
    smtp_starttls,
)


async def test_no_mail_without_authentication(mailserver: Mailserver) -> None:
    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver, login=None) as client:
            return client.mail(DOCTOR)

    code, text = await in_thread(attempt)
    assert (code, text) == (530, b"5.7.0 Authentication required")


@pytest.mark.parametrize(
    "rcpt",
    [
        "<victim%example.test@salus.test>",
        "<@salus.test:victim@example.test>",
        "<@salus.test,@relay.test:doctor.2@salus.test>",
        '<"victim@example.test"@salus.test>',
        "<example.test!victim@salus.test>",
        "<victim@example.test>",
        "<doctor.2@[127.0.0.1]>",
        "<doctor.2@salus.test.>",
    ],
)
async def test_relay_tricks_are_refused(mailserver: Mailserver, rcpt: str) -> None:
    def attempt() -> str:
        client = raw_logged_in(mailserver)
        client.command(f"MAIL FROM:<{DOCTOR}>")
        reply = client.command(f"RCPT TO:{rcpt}")
        client.close()
        return reply

    reply = await in_thread(attempt)
    assert reply[:3] in ("550", "553"), reply
    named = ("[recipient-syntax]", "[recipient-is-local]", "5.1.3 Error: malformed address")
    assert any(n in reply for n in named), reply
    assert await mailserver.messages() == []


@pytest.mark.parametrize(
    "from_header",
    [
        f"From: <{COLLEAGUE}>",
        f'From: "{DOCTOR}" <{COLLEAGUE}>',
        f"From: {COLLEAGUE} ({DOCTOR})",
        f"From: <{DOCTOR}>, <{COLLEAGUE}>",
        f"From: =?utf-8?b?ZG9jdG9yLjFAc2FsdXMudGVzdA==?= <{NOT_MINE}>",
        f"From: <{DOCTOR}>\r\nFrom: <{COLLEAGUE}>",
        f"From: <{DOCTOR}>\r\nSender: <{COLLEAGUE}>",
        "From: undisclosed-recipients:;",
    ],
)
async def test_header_from_of_another_mailbox_is_refused(
    mailserver: Mailserver, from_header: str
) -> None:
    raw = (
        f"{from_header}\r\nTo: <{COLLEAGUE}>\r\nSubject: spoof\r\n"
        "Message-ID: <spoof@client.salus.test>\r\n\r\nbody\r\n"
    ).encode()

    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            client.rcpt(COLLEAGUE)
            try:
                return client.data(raw)
            except smtplib.SMTPDataError as exc:
                return exc.smtp_code, exc.smtp_error

    code, text = await in_thread(attempt)
    assert code == 550
    assert b"[sender-owns-from]" in text or b"[header-syntax]" in text
    assert await mailserver.messages() == []
    refusals = [a for a in await mailserver.audit_actions() if a[1] == "smtp.refuse"]
    assert refusals and refusals[-1][0] == DOCTOR
    assert "spoof" not in refusals[-1][3]  # rule names and reasons, not the subject


@pytest.mark.parametrize("sender", [COLLEAGUE, NOT_MINE, "doctor.1@example.test", "DOCTOR.2@SALUS.TEST"])
async def test_envelope_sender_of_another_mailbox_is_refused(
    mailserver: Mailserver, sender: str
) -> None:
    def attempt() -> str:
        client = raw_logged_in(mailserver)
        reply = client.command(f"MAIL FROM:<{sender}>")
        client.close()
        return reply

    reply = await in_thread(attempt)
    assert reply.startswith("553 5.7.1 ") and "[sender-owns-envelope]" in reply


async def test_null_sender_is_refused_on_submission(mailserver: Mailserver) -> None:
    def attempt() -> str:
        client = raw_logged_in(mailserver)
        reply = client.command("MAIL FROM:<>")
        client.close()
        return reply

    assert (await in_thread(attempt)).startswith("5")


async def test_unauthenticated_implicit_tls_cannot_send(mailserver: Mailserver) -> None:
    def attempt() -> str:
        client = RawClient(mailserver.tls_client().wrap_socket(
            RawClient.connect(mailserver.submissions.port).sock))
        client.reply()
        client.command("EHLO client.salus.test")
        reply = client.command(f"MAIL FROM:<{DOCTOR}>")
        client.close()
        return reply

    assert await in_thread(attempt) == "530 5.7.0 Authentication required"


async def test_a_message_to_self_and_colleague_with_own_from_passes(mailserver: Mailserver) -> None:
    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            client.rcpt(COLLEAGUE)
            client.rcpt(DOCTOR)
            return client.data(message())

    code, _ = await in_thread(attempt)
    assert code == 250
