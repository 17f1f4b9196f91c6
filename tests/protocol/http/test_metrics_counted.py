"""The counters of `/metrics` move with what clients do to a running `salus serve`: sessions
per listener, a failed AUTH and a failed LOGIN, a message accepted and one refused by a
named rule, the delivery that followed, and the crypto operation that protected it."""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import ssl
from pathlib import Path

import pytest

from tests.integration.ops.mail_clients import (
    READER_PASSWORD,
    Samples,
    client_context,
    message,
    reader_password,
    sample,
    scrape,
)
from tests.integration.ops.operator import (
    PASSWORD,
    RECIPIENT,
    SENDER,
    prepare_submission,
    start_node,
    stop_node,
    until_queue_empty,
)

MESSAGE_ID = "counted.1@salus.test"


def _submit(port: int, ctx: ssl.SSLContext) -> tuple[smtplib.SMTPResponseException, str]:
    """A failed AUTH on one connection; on another, a refused MAIL then an accepted message."""
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as client:
        client.ehlo()
        client.user, client.password = "nobody@salus.test", "not-a-password"
        # One AUTH PLAIN (login() would go on to try LOGIN too: a second failure).
        with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
            client.auth("PLAIN", client.auth_plain)
    with smtplib.SMTP_SSL("127.0.0.1", port, context=ctx, timeout=30) as client:
        client.login(SENDER, PASSWORD)
        code, reply = client.mail(RECIPIENT)  # not an address this login may send as
        assert code == 553, reply
        client.rset()
        client.sendmail(SENDER, [RECIPIENT], message(MESSAGE_ID))
    return failed.value, reply.decode()


def _read(port: int, ctx: ssl.SSLContext) -> bytes:
    """A failed LOGIN on one connection; on another, the delivered message's Message-ID."""
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30) as client:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login("nobody@salus.test", "not-a-password")
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30) as client:
        client.login(RECIPIENT, READER_PASSWORD)
        selected = client.select("INBOX")
        assert selected[0] == "OK", selected
        status, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert status == "OK"
        client.logout()
    part = data[0]
    assert isinstance(part, tuple)
    return bytes(part[1])


async def _until_idle(http_port: int, *listeners: str) -> Samples:
    """The scrape once no session of `listeners` is open (closing ends asynchronously)."""
    async with asyncio.timeout(30):
        while True:
            samples = await asyncio.to_thread(scrape, http_port)
            if all(sample(samples, "salus_sessions_active", listener=n) == 0 for n in listeners):
                return samples
            await asyncio.sleep(0.1)


async def test_counters_follow_sessions_messages_deliveries_and_failures(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    await prepare_submission(data_dir)
    await reader_password(data_dir)
    ctx = client_context(data_dir)
    process, ports = await start_node(data_dir)
    http = ports["HTTP__LISTEN"]
    try:
        before = await asyncio.to_thread(scrape, http)
        auth_failure, refusal = await asyncio.to_thread(_submit, ports["SMTP__SUBMISSIONS"], ctx)
        await until_queue_empty(http, within=60)
        header = await asyncio.to_thread(_read, ports["IMAP__LISTEN_TLS"], ctx)
        after = await _until_idle(http, "submissions", "imaps")
    finally:
        await stop_node(process)
    assert auth_failure.smtp_code == 535
    assert "[sender-owns-envelope]" in refusal
    assert MESSAGE_ID.encode() in header

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("salus_sessions_total", listener="submissions") == 2
    assert moved("salus_sessions_total", listener="imaps") == 2
    assert moved("salus_sessions_total", listener="submission") == 0
    assert moved("salus_auth_failures_total", protocol="smtp") == 1
    assert moved("salus_auth_failures_total", protocol="imap") == 1
    assert moved("salus_messages_accepted_total", listener="submissions") == 1
    assert moved("salus_messages_refused_total", rule="sender-owns-envelope") == 1
    assert moved("salus_deliveries_total", outcome="delivered") == 1
    assert moved("salus_deliveries_total", outcome="deferred") == 0
    # One message to one S/MIME mailbox: signed and encrypted in one pool round trip.
    assert moved("salus_crypto_seconds_count", operation="smime_protect") == 1
    assert moved("salus_crypto_seconds_sum", operation="smime_protect") > 0
    assert sample(after, "salus_queue_depth", status="queued") == 0
