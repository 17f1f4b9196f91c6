"""No protocol command before TLS on the submission port, and nothing pipelined with
STARTTLS survives the handshake (RFC 3207 §4.2, CVE-2011-0411 class)."""

from __future__ import annotations

import base64

import pytest

from tests.integration.directory.seed import PASSWORD
from tests.protocol.smtp.harness import DOCTOR, Mailserver, RawClient, in_thread

PLAIN = base64.b64encode(f"\0{DOCTOR}\0{PASSWORD}".encode()).decode()


@pytest.mark.parametrize(
    "command", [f"AUTH PLAIN {PLAIN}", "AUTH LOGIN", f"MAIL FROM:<{DOCTOR}>", "RCPT TO:<x@salus.test>",
                "DATA", "VRFY doctor.1", "HELP"],
)
async def test_commands_before_starttls_get_530(mailserver: Mailserver, command: str) -> None:
    def attempt() -> str:
        client = RawClient.connect(mailserver.submission.port)
        client.reply()
        client.command("EHLO client.salus.test")
        reply = client.command(command)
        client.close()
        return reply

    assert await in_thread(attempt) == "530 5.7.0 Must issue a STARTTLS command first"
    actions = [a[1] for a in await mailserver.audit_actions()]
    assert "auth.success" not in actions and "auth.failure" not in actions


async def test_commands_pipelined_with_starttls_are_discarded(mailserver: Mailserver) -> None:
    def attempt() -> tuple[str, str]:
        client = RawClient.connect(mailserver.submission.port)
        client.reply()
        client.command("EHLO client.salus.test")
        # One segment: STARTTLS and an injected command in plaintext.
        client.send(f"STARTTLS\r\nAUTH PLAIN {PLAIN}\r\nMAIL FROM:<{DOCTOR}>\r\n".encode())
        assert client.reply().startswith("220")
        client.sock = mailserver.tls_client().wrap_socket(client.sock)
        client.buffer = b""
        # If the injected lines had run, their replies would come first.
        first = client.command("NOOP")
        second = client.command(f"MAIL FROM:<{DOCTOR}>")
        client.close()
        return first, second

    first, second = await in_thread(attempt)
    assert first == "250 2.0.0 OK"
    assert second.startswith("503 5.5.1")  # EHLO again after TLS (RFC 3207 §4.2)
    actions = [a[1] for a in await mailserver.audit_actions()]
    assert "auth.success" not in actions


async def test_ehlo_after_tls_forgets_the_plaintext_session(mailserver: Mailserver) -> None:
    def attempt() -> str:
        client = RawClient.connect(mailserver.submission.port)
        client.reply()
        client.command("EHLO client.salus.test")
        client.starttls(mailserver.tls_client())
        client.command("EHLO client.salus.test")
        reply = client.command(f"MAIL FROM:<{DOCTOR}>")
        client.close()
        return reply

    assert await in_thread(attempt) == "530 5.7.0 Authentication required"
