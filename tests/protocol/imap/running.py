"""A real Salus IMAP service on 127.0.0.1 for the protocol and security tests: migrated
database, directory mailboxes with argon2 passwords, the test TLS certificate, and
helpers to drive Python's imaplib (blocking, so it runs in a worker thread)."""

from __future__ import annotations

import asyncio
import imaplib
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from config.settings import HostPort, ImapSettings, Settings
from crypto.at_rest import AtRestCipher
from crypto.service_key import ServiceKey
from directory import passwords
from directory.models import (
    Credential,
    CredentialKind,
    Delegation,
    Mailbox,
    Organisation,
    Practitioner,
)
from mailserver.app import Runtime
from mailserver.imap.service import ImapService
from mailserver.store import deliver
from mailserver.tls import ReloadableContexts, TlsMaterial
from storage.database import Database

PASSWORD = "correct horse battery staple"
T = TypeVar("T")


@dataclass
class User:
    address: str
    mailbox_id: int
    national_id: str | None
    password: str = PASSWORD


@dataclass
class Running:
    runtime: Runtime
    service: ImapService
    ca_file: Path
    users: dict[str, User] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.service.ports[0]

    @property
    def tls_port(self) -> int:
        return self.service.ports[1]

    @property
    def db(self) -> Database:
        return self.runtime.db

    def client_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.ca_file))
        ctx.check_hostname = False
        return ctx

    def connect(self) -> imaplib.IMAP4_SSL:
        """imaplib over implicit TLS (call from a worker thread)."""
        return imaplib.IMAP4_SSL("127.0.0.1", self.tls_port, ssl_context=self.client_context())

    def login(self, user: str) -> imaplib.IMAP4_SSL:
        client = self.connect()
        client.login(self.users[user].address, self.users[user].password)
        return client

    async def add_user(
        self, name: str, *, quota: int | None = None, national_id: str | None = None
    ) -> User:
        address = f"{name}@hopital.test"
        secret_hash = await passwords.hash_secret(PASSWORD)
        async with self.db.write() as session:
            if national_id is not None:
                session.add(
                    Practitioner(
                        national_id=national_id,
                        id_scheme="rpps",
                        first_name=name.capitalize(),
                        last_name="Synthetique",
                        profession="10",
                    )
                )
                await session.flush()
            mailbox = Mailbox(
                address=address, kind="personal", owner_id=national_id, local=True, quota=quota
            )
            session.add(mailbox)
            await session.flush()
            session.add(
                Credential(
                    mailbox_id=mailbox.id, kind=CredentialKind.PASSWORD, secret_hash=secret_hash
                )
            )
        user = User(address, mailbox.id, national_id)
        self.users[name] = user
        return user

    async def add_shared_mailbox(self, address: str, delegate_to: str) -> int:
        async with self.db.write() as session:
            if await session.get(Organisation, "1990000001") is None:
                session.add(Organisation(id="1990000001", name="Hopital Synthetique"))
                await session.flush()
            mailbox = Mailbox(
                address=address, kind="organizational", organisation_id="1990000001", local=True
            )
            session.add(mailbox)
            await session.flush()
            session.add(Delegation(mailbox_id=mailbox.id, practitioner_id=delegate_to))
            return mailbox.id

    async def deliver(self, user: str, message: bytes, folder: str = "INBOX") -> int:
        mailbox_id = self.users[user].mailbox_id
        async with self.db.write() as session:
            stored = await deliver(session, self.runtime.at_rest, mailbox_id, message, folder=folder)
        self.runtime.mailbox_events.publish(mailbox_id)
        return stored.uid


def make_runtime(db: Database, data_dir: Path, material: TlsMaterial, **imap: object) -> Runtime:
    settings = Settings(
        data_dir=data_dir,
        imap=ImapSettings(
            listen=HostPort("127.0.0.1", 0),
            listen_tls=HostPort("127.0.0.1", 0),
            **imap,  # type: ignore[arg-type]
        ),
    )
    return Runtime(
        settings=settings,
        db=db,
        tls=ReloadableContexts(material),
        at_rest=AtRestCipher(ServiceKey(secrets.token_bytes(32))),
    )


async def in_thread(fn: Callable[[], T]) -> T:
    """Run a blocking client scenario while the server keeps serving on this loop."""
    return await asyncio.to_thread(fn)


def message(subject: str, body: str = "Synthetic test body.", *, sender: str = "alice@hopital.test") -> bytes:
    return (
        f"From: Dr Alice Martin <{sender}>\r\n"
        f"To: bob@hopital.test\r\n"
        f"Subject: {subject}\r\n"
        f"Date: Mon, 4 Mar 2024 10:15:00 +0100\r\n"
        f"Message-ID: <{secrets.token_hex(6)}@hopital.test>\r\n"
        f"MIME-Version: 1.0\r\n"
        f"Content-Type: text/plain; charset=utf-8\r\n"
        f"\r\n"
        f"{body}\r\n"
    ).encode()
