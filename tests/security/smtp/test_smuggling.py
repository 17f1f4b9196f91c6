"""SMTP smuggling: only CRLF "." CRLF ends DATA. Every other end-of-data look-alike stays
inside the message, whose bare LF/CR is then refused with one reply; the commands hidden
after it are never executed and nothing is queued (raw sockets: smtplib would fix the
line endings)."""

from __future__ import annotations

import pytest

from tests.protocol.smtp.harness import COLLEAGUE, DOCTOR, Mailserver, in_thread, raw_logged_in

HIDDEN = (
    f"MAIL FROM:<{DOCTOR}>\r\nRCPT TO:<{COLLEAGUE}>\r\nDATA\r\n"
    f"From: <{DOCTOR}>\r\nSubject: smuggled\r\n\r\nsmuggled\r\n"
).encode()
HEADER = f"From: <{DOCTOR}>\r\nTo: <{COLLEAGUE}>\r\nSubject: cover\r\n\r\ncover\r\n".encode()

VARIANTS = {
    "lf-dot-lf": b"\n.\n",
    "lf-dot-crlf": b"\n.\r\n",
    "crlf-dot-lf": b"\r\n.\n",
    "cr-dot-cr": b"\r.\r",
    "cr-dot-crlf": b"\r.\r\n",
    "crlf-dot-cr": b"\r\n.\r",
    "cr-cr-lf": b"\r\r\n.\r\r\n",
    "lf-lf": b"\n\n.\n\n",
    "nul-dot": b"\r\n\x00.\r\n",
}


def smuggle(server: Mailserver, variant: bytes) -> tuple[str, str, str]:
    client = raw_logged_in(server)
    try:
        assert client.command(f"MAIL FROM:<{DOCTOR}>").startswith("250")
        assert client.command(f"RCPT TO:<{COLLEAGUE}>").startswith("250")
        assert client.command("DATA").startswith("354")
        client.send(HEADER + b"before" + variant + HIDDEN + b"after\r\n.\r\n")
        data_reply = client.reply()
        noop = client.command("NOOP")
        quit_reply = client.command("QUIT")
        return data_reply, noop, quit_reply
    finally:
        client.close()


@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
async def test_no_end_of_data_but_crlf_dot_crlf(mailserver: Mailserver, variant: bytes) -> None:
    data_reply, noop, quit_reply = await in_thread(smuggle, mailserver, variant)
    assert data_reply.startswith("550 5.6.0 "), data_reply
    assert "[strict-crlf]" in data_reply or "[nul-bytes]" in data_reply
    # Exactly one reply for the whole DATA: the hidden MAIL/RCPT/DATA produced none.
    assert noop == "250 2.0.0 OK"
    assert quit_reply.startswith("221")
    assert await mailserver.messages() == []


async def test_a_clean_message_with_dot_lines_is_unstuffed(mailserver: Mailserver) -> None:
    def send() -> str:
        client = raw_logged_in(mailserver)
        client.command(f"MAIL FROM:<{DOCTOR}>")
        client.command(f"RCPT TO:<{COLLEAGUE}>")
        client.command("DATA")
        client.send(HEADER + b"..leading dot\r\n.\r\n")
        reply = client.reply()
        client.close()
        return reply

    reply = await in_thread(send)
    assert reply.startswith("250 2.0.0 Ok: queued as")


async def test_nul_bytes_are_refused(mailserver: Mailserver) -> None:
    def send() -> str:
        client = raw_logged_in(mailserver)
        client.command(f"MAIL FROM:<{DOCTOR}>")
        client.command(f"RCPT TO:<{COLLEAGUE}>")
        client.command("DATA")
        client.send(HEADER + b"binary\x00data\r\n.\r\n")
        reply = client.reply()
        client.close()
        return reply

    reply = await in_thread(send)
    assert reply.startswith("550 5.6.0 ") and "[nul-bytes]" in reply
    assert await mailserver.messages() == []
