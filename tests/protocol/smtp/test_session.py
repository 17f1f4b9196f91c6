"""Session life: drain on shutdown, client-certificate login (SASL EXTERNAL), AUTH
LOGIN, storage failures answered 451/452 and never 250, TLS reload."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import smtplib
from pathlib import Path

import pytest
from cryptography import x509
from sqlalchemy import select, text

from directory.models import CertificateBinding, Mailbox
from mailserver.tls import TlsMaterial
from storage.errors import StorageUnavailable
from tests.certs import Issued, issue_leaf, make_ca
from tests.integration.directory.seed import PASSWORD
from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    Mailserver,
    RawClient,
    in_thread,
    message,
    raw_logged_in,
    running,
    smtp_starttls,
)


async def test_drain_finishes_transactions_and_refuses_the_rest(mailserver: Mailserver) -> None:
    idle = await in_thread(raw_logged_in, mailserver)
    busy = await in_thread(raw_logged_in, mailserver)

    def start_transaction() -> None:
        assert busy.command(f"MAIL FROM:<{DOCTOR}>").startswith("250")
        assert busy.command(f"RCPT TO:<{COLLEAGUE}>").startswith("250")

    await in_thread(start_transaction)
    stopping = asyncio.create_task(mailserver.submission.stop())
    await asyncio.sleep(0.2)

    def finish() -> tuple[str, str, str, bool]:
        idle_reply = idle.reply()
        assert busy.command("DATA").startswith("354")
        busy.send(message() + b".\r\n")
        data_reply = busy.reply()
        closing = busy.reply()
        return idle_reply, data_reply, closing, busy.closed()

    idle_reply, data_reply, closing, closed = await in_thread(finish)
    await stopping
    assert idle_reply == "421 4.3.2 Service shutting down; try again later"
    assert data_reply.startswith("250 2.0.0 Ok: queued as")
    assert closing.startswith("421 4.3.2") and closed
    assert len(await mailserver.messages()) == 1
    with pytest.raises(OSError):
        await in_thread(RawClient.connect, mailserver.submission.port)


async def test_auth_login(mailserver: Mailserver) -> None:
    def attempt() -> tuple[int, bytes]:
        client = smtp_starttls(mailserver, login=None)
        client.user, client.password = DOCTOR, PASSWORD
        result = client.auth("LOGIN", client.auth_login, initial_response_ok=False)
        client.quit()
        return result

    assert await in_thread(attempt) == (235, b"2.7.0 Authentication successful")


@pytest.fixture
def client_ca() -> Issued:
    return make_ca("Test Service CA")


async def test_client_certificate_login_with_external(
    tmp_path: Path, server_tls: TlsMaterial, client_ca: Issued
) -> None:
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "root.crt").write_bytes(client_ca.cert_pem)
    leaf = issue_leaf(client_ca, "Dr One", emails=(DOCTOR,))
    cert_file, key_file = leaf.write(tmp_path, "client")
    stranger = issue_leaf(client_ca, "Not bound")
    stranger_cert, stranger_key = stranger.write(tmp_path, "stranger")
    url = f"sqlite+aiosqlite:///{tmp_path / 'salus.db'}"
    async with running(tmp_path, url, server_tls, tmp_path / "ca.crt") as server:
        der = leaf.cert.public_bytes(encoding=_der())
        async with server.db.write() as session:
            mailbox = (await session.execute(select(Mailbox).where(Mailbox.address == DOCTOR))).scalar_one()
            session.add(CertificateBinding(mailbox_id=mailbox.id,
                                           fingerprint=hashlib.sha256(der).hexdigest()))

        def login(cert: Path, key: Path, authzid: str = "") -> tuple[str, str]:
            ctx = server.tls_client()
            ctx.load_cert_chain(cert, key)
            client = RawClient(ctx.wrap_socket(RawClient.connect(server.submissions.port).sock))
            client.reply()
            ehlo = client.command("EHLO client.salus.test")
            initial = base64.b64encode(authzid.encode()).decode() if authzid else "="
            reply = client.command(f"AUTH EXTERNAL {initial}")
            if reply.startswith("235"):
                reply += " | " + client.command(f"MAIL FROM:<{DOCTOR}>")
            client.close()
            return ehlo, reply

        ehlo, reply = await in_thread(login, cert_file, key_file)
        assert "EXTERNAL" in ehlo
        assert reply == "235 2.7.0 Authentication successful | 250 2.1.0 Sender ok"
        _, other = await in_thread(login, cert_file, key_file, COLLEAGUE)
        assert other.startswith("535 5.7.8 The authorization identity")
        _, unbound = await in_thread(login, stranger_cert, stranger_key)
        assert unbound == "535 5.7.8 Authentication credentials invalid"


def _der() -> object:
    from cryptography.hazmat.primitives.serialization import Encoding  # noqa: PLC0415

    return Encoding.DER


async def test_storage_unavailable_is_451_never_250(
    mailserver: Mailserver, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_args: object, **_kwargs: object) -> None:
        raise StorageUnavailable("database unavailable: test")

    monkeypatch.setattr("mailserver.queue.committer.enqueue_many", down)

    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            client.rcpt(COLLEAGUE)
            try:
                return client.data(message())
            except smtplib.SMTPDataError as exc:
                return exc.smtp_code, exc.smtp_error

    assert await in_thread(attempt) == (451, b"4.3.0 Temporary storage failure; try again later")
    assert await mailserver.messages() == []


async def test_disk_full_is_452_and_nothing_is_half_written(mailserver: Mailserver) -> None:
    # Cap the SQLite file at its current size: the next commit fails with SQLITE_FULL.
    async with mailserver.db.write() as session:
        pages = (await session.execute(text("PRAGMA page_count"))).scalar_one()
        await session.execute(text(f"PRAGMA max_page_count = {pages + 2}"))

    def attempt() -> tuple[int, bytes]:
        with smtp_starttls(mailserver) as client:
            client.mail(DOCTOR)
            client.rcpt(COLLEAGUE)
            try:
                return client.data(message(body=("x" * 900 + "\r\n") * 200))
            except smtplib.SMTPDataError as exc:
                return exc.smtp_code, exc.smtp_error

    assert await in_thread(attempt) == (452, b"4.3.1 Insufficient system storage; try again later")
    assert await mailserver.messages() == []
    assert await mailserver.deliveries() == []


async def test_sighup_reload_serves_the_new_certificate(
    mailserver: Mailserver, tmp_path: Path, test_ca: Issued
) -> None:
    renewed = issue_leaf(test_ca, "mail.salus.test", dns=("mail.salus.test", "renewed.salus.test"))
    cert, key = renewed.write(tmp_path, "renewed")
    mailserver.runtime.tls.reload(TlsMaterial(cert, key))

    def served() -> x509.Certificate:
        ctx = mailserver.tls_client()
        with ctx.wrap_socket(RawClient.connect(mailserver.submissions.port).sock) as sock:
            der = sock.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der)

    assert (await in_thread(served)).serial_number == renewed.cert.serial_number
