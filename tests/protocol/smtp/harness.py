"""A submission server on 127.0.0.1 for the protocol and security tests: a migrated
database, a synthetic directory with real keys (tests/keys.py: a service CA and key
generations made once per test process), the shared crypto process pool, both listeners
on free ports, and TLS from the test CA.

Clients here are the standard library's smtplib (run in a thread: it blocks) and
aiosmtplib; raw sockets where smtplib would fix the bytes up.
"""

from __future__ import annotations

import asyncio
import secrets
import smtplib
import socket
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy import select

from config.settings import HostPort, Settings, SmtpSettings
from directory import passwords
from directory.models import (
    Credential,
    CredentialKind,
    Delegation,
    Mailbox,
    MailboxStatus,
    Practitioner,
)
from mailserver.app import Runtime
from mailserver.queue.models import Delivery, QueuedMessage
from mailserver.queue.wakeup import Wakeup
from mailserver.smtp.listener import SubmissionListener
from mailserver.tls import ReloadableContexts, TlsMaterial
from storage import migrate
from storage.audit import AuditEntry
from storage.database import Database
from tests.integration.directory.seed import PASSWORD, organisation_mailbox, rpps
from tests.keys import key_material, shared_pool

DOCTOR = "doctor.1@salus.test"
COLLEAGUE = "doctor.2@salus.test"
SUSPENDED = "doctor.3@salus.test"
SHARED = "cardiology@salus.test"  # delegated to DOCTOR
NOT_MINE = "radiology@salus.test"  # an organisational mailbox nobody delegated
KEYED = (DOCTOR, COLLEAGUE, SHARED)  # the mailboxes whose keys are issued


@dataclass
class Mailserver:
    runtime: Runtime
    submission: SubmissionListener
    submissions: SubmissionListener
    ca_file: Path
    wakeup: Wakeup
    national_ids: dict[str, str] = field(default_factory=dict)

    @property
    def db(self) -> Database:
        return self.runtime.db

    def tls_client(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False
        return ctx

    async def messages(self) -> list[QueuedMessage]:
        async with self.db.read() as session:
            return list((await session.execute(select(QueuedMessage))).scalars())

    async def deliveries(self) -> list[Delivery]:
        async with self.db.read() as session:
            return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())

    async def audit_actions(self) -> list[tuple[str, str, str, str]]:
        async with self.db.read() as session:
            rows = (await session.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars()
            return [(e.actor, e.action, e.object, e.detail) for e in rows]


_hashes: dict[str, str] = {}


async def password_hash(secret: str = PASSWORD) -> str:
    """argon2id costs a tenth of a second: hash the test password once per process."""
    if secret not in _hashes:
        _hashes[secret] = await passwords.hash_secret(secret)
    return _hashes[secret]


async def practitioner(db: Database, n: int, *, domain: str = "salus.test") -> tuple[str, str]:
    """Practitioner n with a personal mailbox doctor.n@DOMAIN and the test password."""
    national_id, address = rpps(n), f"doctor.{n}@{domain}"
    secret_hash = await password_hash()
    async with db.write() as session:
        session.add(Practitioner(national_id=national_id, id_scheme="rpps",
                                 first_name=f"Alex{n}", last_name=f"Martin{n}", profession="10"))
        await session.flush()
        mailbox = Mailbox(address=address, kind="personal", owner_id=national_id)
        session.add(mailbox)
        await session.flush()
        session.add(Credential(mailbox_id=mailbox.id, kind=CredentialKind.PASSWORD,
                               secret_hash=secret_hash))
    return national_id, address


async def seed_directory(db: Database) -> dict[str, str]:
    """Three practitioners (the third suspended), a delegated and an undelegated
    organisational mailbox; returns address -> national id."""
    ids = {}
    for n in (1, 2, 3):
        national_id, address = await practitioner(db, n)
        ids[address] = national_id
    shared = await organisation_mailbox(db, SHARED)
    await organisation_mailbox(db, NOT_MINE)
    async with db.write() as session:
        session.add(Delegation(mailbox_id=shared, practitioner_id=ids[DOCTOR]))
        mailbox = (
            await session.execute(select(Mailbox).where(Mailbox.address == SUSPENDED))
        ).scalar_one()
        mailbox.status = MailboxStatus.SUSPENDED.value
    return ids


@asynccontextmanager
async def running(
    tmp_path: Path,
    database_url: str,
    tls: TlsMaterial,
    ca_file: Path,
    *,
    smtp: dict[str, Any] | None = None,
    greeting_pause: float = 0.0,
    drain_grace: float = 5.0,
    seed: bool = True,
) -> AsyncIterator[Mailserver]:
    base = SmtpSettings(
        submission=HostPort("127.0.0.1", 0), submissions=HostPort("127.0.0.1", 0)
    )
    settings = Settings(data_dir=tmp_path, smtp=replace(base, **(smtp or {})))
    db = Database(database_url)
    await migrate.upgrade(db)
    material = key_material()
    material.install(tmp_path)
    ids = await seed_directory(db) if seed else {}
    if seed:
        await material.issue(db, *KEYED)
    runtime = Runtime(
        settings=settings,
        db=db,
        tls=ReloadableContexts(tls),
        at_rest=material.at_rest(),
    )
    runtime.crypto_pool = shared_pool()
    wakeup = Wakeup()
    listeners = [
        SubmissionListener(
            runtime, wakeup, name=name, address=HostPort("127.0.0.1", 0),
            implicit_tls=implicit, greeting_pause=greeting_pause, drain_grace=drain_grace,
        )
        for name, implicit in (("submission", False), ("submissions", True))
    ]
    for listener in listeners:
        await listener.start()
    server = Mailserver(runtime, listeners[0], listeners[1], ca_file, wakeup, ids)
    try:
        yield server
    finally:
        for listener in listeners:
            await listener.stop()
        await db.dispose()


def smtp_starttls(server: Mailserver, *, login: str | None = DOCTOR,
                  password: str = PASSWORD) -> smtplib.SMTP:
    """A blocking client on the STARTTLS port, logged in (call it in a thread)."""
    client = smtplib.SMTP("127.0.0.1", server.submission.port, timeout=10)
    client.ehlo("client.salus.test")
    client.starttls(context=server.tls_client())
    client.ehlo("client.salus.test")
    if login is not None:
        client.login(login, password)
    return client


def smtp_implicit(server: Mailserver, *, login: str | None = DOCTOR,
                  password: str = PASSWORD) -> smtplib.SMTP_SSL:
    client = smtplib.SMTP_SSL(
        "127.0.0.1", server.submissions.port, timeout=10, context=server.tls_client()
    )
    client.ehlo("client.salus.test")
    if login is not None:
        client.login(login, password)
    return client


def message(sender: str = DOCTOR, to: str = COLLEAGUE, *, subject: str = "Results",
            body: str = "Synthetic test message.", extra: str = "") -> bytes:
    return (
        f"From: Dr One <{sender}>\r\nTo: <{to}>\r\nSubject: {subject}\r\n{extra}"
        f"Message-ID: <{secrets.token_hex(8)}@client.salus.test>\r\n\r\n{body}\r\n"
    ).encode()


class RawClient:
    """A line-level client over a plain or TLS socket, for bytes smtplib would fix."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    @classmethod
    def connect(cls, port: int, *, timeout: float = 10.0) -> RawClient:
        return cls(socket.create_connection(("127.0.0.1", port), timeout=timeout))

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> str:
        """One complete reply (all its lines), as text."""
        lines = []
        while True:
            line = self._line()
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def _line(self) -> str:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed: " + self.buffer.decode(errors="replace"))
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line.decode("ascii", "replace")

    def command(self, line: str | bytes) -> str:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def starttls(self, context: ssl.SSLContext) -> None:
        assert self.command("STARTTLS").startswith("220")
        self.sock = context.wrap_socket(self.sock, server_hostname="mail.salus.test")
        self.buffer = b""

    def closed(self) -> bool:
        """True when the server has closed the connection (EOF, nothing pending)."""
        try:
            return self.sock.recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            return True

    def close(self) -> None:
        self.sock.close()


def raw_logged_in(server: Mailserver) -> RawClient:
    """A raw client past EHLO, STARTTLS and AUTH PLAIN as DOCTOR."""
    import base64  # noqa: PLC0415

    client = RawClient.connect(server.submission.port)
    assert client.reply().startswith("220")
    client.command("EHLO client.salus.test")
    client.starttls(server.tls_client())
    client.command("EHLO client.salus.test")
    token = base64.b64encode(f"\0{DOCTOR}\0{PASSWORD}".encode()).decode()
    reply = client.command(f"AUTH PLAIN {token}")
    assert reply.startswith("235"), reply
    return client


async def in_thread(func: Any, *args: Any) -> Any:
    return await asyncio.to_thread(func, *args)
