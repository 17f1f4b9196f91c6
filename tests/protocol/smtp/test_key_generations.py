"""The key generations a transaction checks at MAIL and RCPT are the ones DATA signs and
encrypts with; a check older than `protect.KEYS_READ_WITHIN` is made again, so a key
revoked during a slow transaction is not used."""

from __future__ import annotations

import smtplib

import pytest
from sqlalchemy import update

from crypto.models import KeyStatus, MailboxKey
from gateway import protect
from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    Mailserver,
    in_thread,
    message,
    smtp_starttls,
)


async def _revoke(server: Mailserver, address: str) -> None:
    async with server.db.write() as session:
        await session.execute(
            update(MailboxKey)
            .where(MailboxKey.address == address)
            .values(status=KeyStatus.REVOKED.value)
        )


async def _transaction_then(server: Mailserver, between: str) -> tuple[int, bytes]:
    """MAIL and RCPT, then `between` ("recipient" or "sender") loses its keys, then DATA."""
    client: smtplib.SMTP = await in_thread(smtp_starttls, server)
    try:
        assert (await in_thread(client.mail, DOCTOR))[0] == 250
        assert (await in_thread(client.rcpt, COLLEAGUE))[0] == 250
        await _revoke(server, COLLEAGUE if between == "recipient" else DOCTOR)
        code, reply = await in_thread(client.data, message())
        return int(code), bytes(reply)
    finally:
        await in_thread(client.close)


@pytest.mark.parametrize("between", ["recipient", "sender"])
async def test_a_stale_check_is_made_again_at_data(
    mailserver_any_db: Mailserver, monkeypatch: pytest.MonkeyPatch, between: str
) -> None:
    monkeypatch.setattr(protect, "KEYS_READ_WITHIN", 0.0)
    code, reply = await _transaction_then(mailserver_any_db, between)
    assert code == 550
    expected = (
        f"5.7.1 <{COLLEAGUE}>: the keys of this mailbox are not issued"
        if between == "recipient"
        else f"5.7.1 <{DOCTOR}>, the From address, has no active signing key"
    )
    assert reply.decode().startswith(expected)
    assert await mailserver_any_db.deliveries() == []


async def test_a_recent_check_is_what_data_uses(
    mailserver_any_db: Mailserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Revoked a moment after RCPT: DATA seals with the generations MAIL and RCPT read
    # (as if the message had come a moment earlier), without reading the store again.
    monkeypatch.setattr(protect, "KEYS_READ_WITHIN", 3600.0)  # however slow this machine
    code, reply = await _transaction_then(mailserver_any_db, "recipient")
    assert code == 250, reply
    assert [d.recipient for d in await mailserver_any_db.deliveries()] == [COLLEAGUE]
