"""One Salus operator on 127.0.0.1 for the end-to-end tests: submission (STARTTLS), the
delivery workers and IMAP, on SQLite or PostgreSQL, with a data dir the `salus` command
line reads (its salus.toml names the same database), a service CA and real keys
(tests/keys.py), and the shared crypto process pool.

Mailboxes (password PASSWORD unless said):
    doctor.1  personal, smime        the usual sender
    doctor.2  personal, smime        the ordering practitioner of the lab tests
    doctor.4  personal, smime-gcm
    doctor.5  personal, openpgp
    doctor.6  personal, no keys issued
    dpi@      applicative, server-decrypt (a patient record system without S/MIME)
    lis@      applicative, sends lab results (a lab information system)
"""

from __future__ import annotations

import asyncio
import imaplib
import smtplib
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from config.settings import load_settings, render_toml
from directory.models import Credential, CredentialKind, Mailbox, Organisation
from mailserver.app import Runtime, Service
from mailserver.delivery.service import DeliveryService
from mailserver.imap.service import ImapService
from mailserver.queue.models import Delivery
from mailserver.queue.wakeup import Wakeup
from mailserver.smtp.listener import SubmissionListener
from mailserver.tls import ReloadableContexts, TlsMaterial
from storage import migrate
from storage.database import Database
from tests.integration.directory.seed import PASSWORD
from tests.keys import key_material, shared_pool
from tests.protocol.smtp.harness import (
    COLLEAGUE,
    DOCTOR,
    SHARED,
    password_hash,
    practitioner,
    seed_directory,
)

SALUS = Path(sys.executable).parent / "salus"
GCM, OPENPGP, KEYLESS = "doctor.4@salus.test", "doctor.5@salus.test", "doctor.6@salus.test"
DPI, LIS = "dpi@salus.test", "lis@salus.test"
ROUTING = "routing@salus.test"
KEYED = (DOCTOR, COLLEAGUE, SHARED, GCM, OPENPGP, DPI, LIS)
LISTENERS = ("smtp.submission", "smtp.submissions", "smtp.mx", "imap.listen",
             "imap.listen_tls", "http.listen", "lookup.listen")  # fmt: skip


@dataclass
class Node:
    data_dir: Path
    runtime: Runtime
    submission: SubmissionListener
    imap: ImapService
    wakeup: Wakeup
    ca_file: Path  # the TLS certificate's CA, for clients

    @property
    def db(self) -> Database:
        return self.runtime.db

    def tls_client(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.check_hostname = False  # loopback; the chain is verified
        return context

    def smtp(self, login: str = DOCTOR, password: str = PASSWORD) -> smtplib.SMTP:
        """smtplib over STARTTLS, logged in (blocking: call it in a thread)."""
        client = smtplib.SMTP("127.0.0.1", self.submission.port, timeout=30)
        client.starttls(context=self.tls_client())
        client.login(login, password)
        return client

    def submit(self, message: bytes, to: list[str], sender: str = DOCTOR) -> tuple[int, bytes]:
        """MAIL, RCPT (each must pass), DATA; the DATA reply (blocking)."""
        with self.smtp(sender) as client:
            client.mail(sender)
            for rcpt in to:
                code, text = client.rcpt(rcpt)
                assert code == 250, text
            return client.data(message)

    def inbox(self, address: str, password: str = PASSWORD) -> list[bytes]:
        """Every message of `address`'s INBOX, read with imaplib over TLS (blocking)."""
        _, port = self.imap.ports
        with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=self.tls_client()) as client:
            client.login(address, password)
            client.select("INBOX")
            _, data = client.uid("SEARCH", "ALL")
            found = []
            for uid in data[0].split():
                _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
                found.append(bytes(parts[0][1]))
            return found

    def salus(self, *args: str, stdin: bytes = b"") -> bytes:
        """The `salus` command line on this data dir (blocking); its standard output."""
        done = subprocess.run(
            [str(SALUS), *args, "--data-dir", str(self.data_dir)],
            input=stdin, capture_output=True, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        return done.stdout

    async def deliveries(self) -> list[tuple[str, str, str]]:
        async with self.db.read() as session:
            rows = (await session.execute(select(Delivery).order_by(Delivery.id))).scalars()
            return [(d.recipient, d.status, d.last_reply) for d in rows]

    async def settled(self, count: int, within: float = 60.0) -> list[tuple[str, str, str]]:
        """Wait until `count` delivery rows are final; return every row."""

        async def done() -> bool:
            rows = await self.deliveries()
            return sum(status in ("delivered", "bounced") for _, status, _ in rows) >= count

        await wait_until(done, within=within)
        return await self.deliveries()


def openssl(*args: str, stdin: bytes | None = None) -> bytes:
    done = subprocess.run(["openssl", *args], input=stdin, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def exported_key(node: Node, address: str, directory: Path) -> Path:
    """The mailbox's key and certificate as `salus keys export --p12` gives them to its
    owner's mail client, unpacked to PEM with openssl (blocking)."""
    p12 = directory / f"{address}.p12"
    node.salus("keys", "export", address, "--p12", str(p12), "--passphrase-stdin",
               stdin=b"reading passphrase\n")  # fmt: skip
    pem = directory / f"{address}.pem"
    pem.write_bytes(openssl("pkcs12", "-in", str(p12), "-nodes", "-passin", "pass:reading passphrase"))
    return pem


def decrypted(node: Node, stored: bytes, address: str, directory: Path) -> bytes:
    """What `address`'s mail client reads: the stored message decrypted with the exported
    key and its signature verified against `salus trust export-ca` (blocking)."""
    source = directory / "stored.eml"
    source.write_bytes(stored)
    key = exported_key(node, address, directory)
    signed = openssl("cms", "-decrypt", "-in", str(source), "-inkey", str(key))
    anchors = directory / "chain.pem"
    anchors.write_bytes(node.salus("trust", "export-ca"))
    return openssl("cms", "-verify", "-CAfile", str(anchors), "-purpose", "smimesign", stdin=signed)


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float = 60.0) -> None:
    """Poll `check` until it holds (a bound on waiting, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.1)


async def _seed(db: Database) -> None:
    await seed_directory(db)
    for n, crypto in ((4, "smime-gcm"), (5, "openpgp"), (6, "smime")):
        _, address = await practitioner(db, n)
        async with db.write() as session:
            mailbox = (
                await session.execute(select(Mailbox).where(Mailbox.address == address))
            ).scalar_one()
            mailbox.crypto = crypto
    secret = await password_hash()
    async with db.write() as session:
        session.add(Organisation(id="1990000002", name="Laboratoire Synthetique", kind="lab"))
        await session.flush()
        for address, delivery in ((DPI, "server-decrypt"), (LIS, "client-decrypt")):
            mailbox = Mailbox(
                address=address, kind="applicative", organisation_id="1990000002",
                crypto="smime-gcm" if delivery == "server-decrypt" else "smime",
                delivery=delivery,
            )  # fmt: skip
            session.add(mailbox)
            await session.flush()
            session.add(
                Credential(mailbox_id=mailbox.id, kind=CredentialKind.PASSWORD, secret_hash=secret)
            )


@asynccontextmanager
async def node(
    data_dir: Path,
    database_url: str,
    tls: TlsMaterial,
    ca_file: Path,
    *,
    gateway: Mapping[str, str] | None = None,
) -> AsyncIterator[Node]:
    """A running operator: submission, delivery and IMAP on free loopback ports (and
    `gateway` settings other than the defaults, when given)."""
    data_dir.mkdir()
    values: dict[str, dict[str, str]] = {"database": {"url": database_url}}
    if gateway:
        values["gateway"] = dict(gateway)
    for key in LISTENERS:
        section, name = key.split(".")
        values.setdefault(section, {})[name] = "127.0.0.1:0"
    (data_dir / "salus.toml").write_text(render_toml(values), encoding="utf-8")
    material = key_material()
    material.install(data_dir)
    settings = load_settings(data_dir, environ={})
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    await _seed(db)
    await material.issue(db, *KEYED)
    runtime = Runtime(settings, db, ReloadableContexts(tls), material.at_rest())
    runtime.crypto_pool = shared_pool()
    wakeup = Wakeup()
    imap = ImapService(runtime)
    submission = SubmissionListener(
        runtime, wakeup, name="submission", address=settings.smtp.submission,
        implicit_tls=False, greeting_pause=0.0,
    )  # fmt: skip
    services: list[Service] = [DeliveryService(runtime, wakeup, poll_seconds=0.2), imap, submission]
    started: list[Service] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        yield Node(data_dir, runtime, submission, imap, wakeup, ca_file)
    finally:
        for service in reversed(started):
            await service.stop()
        await runtime.mailbox_events.close()
        await db.dispose()
