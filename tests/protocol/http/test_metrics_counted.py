"""The counters of `/metrics` move with what clients do to a running `salus serve`: sessions
per listener, a failed AUTH and a failed LOGIN, a message accepted and one refused by a
named rule, the delivery that followed, and the crypto operation that protected it."""

from __future__ import annotations

import asyncio
import imaplib
import signal
import smtplib
import ssl
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from config.settings import load_settings
from directory.admin.credentials import set_password
from storage.database import Database
from tests.integration.ops.operator import (
    PASSWORD,
    RECIPIENT,
    SENDER,
    metrics_text,
    prepare_submission,
    start_node,
    until_queue_empty,
)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
READER_PASSWORD = "Secretariat-Reads-2026!"
MESSAGE_ID = "counted.1@salus.test"


def scrape(http_port: int) -> Samples:
    text = metrics_text(http_port)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _client_context(data_dir: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(data_dir / "ca" / "root.crt"))
    ctx.check_hostname = False
    return ctx


def _message() -> str:
    return (
        f"From: {SENDER}\r\nTo: {RECIPIENT}\r\nSubject: counted\r\n"
        f"Message-ID: <{MESSAGE_ID}>\r\nDate: Sat, 28 Nov 2026 10:00:00 +0000\r\n\r\nresult\r\n"
    )


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
        client.sendmail(SENDER, [RECIPIENT], _message())
    return failed.value, reply.decode()


def _read(port: int, ctx: ssl.SSLContext) -> bytes:
    """A failed LOGIN on one connection; on another, the delivered message's Message-ID."""
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30) as client:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login("nobody@salus.test", "not-a-password")
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx, timeout=30) as client:
        client.login(RECIPIENT, READER_PASSWORD)
        client.select("INBOX")
        status, data = client.fetch("1", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert status == "OK"
        client.logout()
    part = data[0]
    assert isinstance(part, tuple)
    return bytes(part[1])


async def _reader_password(data_dir: Path) -> None:
    db = Database(load_settings(data_dir).database_url)
    try:
        async with db.write() as session:
            await set_password(session, "test", RECIPIENT, READER_PASSWORD)
    finally:
        await db.dispose()


async def _until_idle(http_port: int, *listeners: str) -> Samples:
    """The scrape once no session of `listeners` is open (closing ends asynchronously)."""
    async with asyncio.timeout(30):
        while True:
            samples = await asyncio.to_thread(scrape, http_port)
            if all(samples.get(("salus_sessions_active", (("listener", name),))) == 0
                   for name in listeners):  # fmt: skip
                return samples
            await asyncio.sleep(0.1)


async def test_counters_follow_sessions_messages_deliveries_and_failures(tmp_path: Path) -> None:
    data_dir = tmp_path / "op"
    await prepare_submission(data_dir)
    await _reader_password(data_dir)
    ctx = _client_context(data_dir)
    process, ports = await start_node(data_dir)
    http = ports["HTTP__LISTEN"]
    try:
        before = await asyncio.to_thread(scrape, http)
        auth_failure, refusal = await asyncio.to_thread(_submit, ports["SMTP__SUBMISSIONS"], ctx)
        await until_queue_empty(http, within=60)
        header = await asyncio.to_thread(_read, ports["IMAP__LISTEN_TLS"], ctx)
        after = await _until_idle(http, "submissions", "imaps")
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.communicate(), 60)
    assert auth_failure.smtp_code == 535
    assert "[sender-owns-envelope]" in refusal
    assert MESSAGE_ID.encode() in header

    def moved(name: str, **labels: str) -> float:
        return _moved(before, after, name, **labels)

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
    assert after[("salus_queue_depth", (("status", "queued"),))] == 0
