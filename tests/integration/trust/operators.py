"""Several Salus operators on loopback, each with its own data dir (made by `salus init`),
its own SQLite database, its own CA and domain, for the trust-space tests.

`salus init` makes a 4096-bit root key and mailbox keys are RSA-3072, so the data dirs
are made once per test session (`operator_templates`) and copied for each test: every
test starts from fresh operators that share nothing with another test but their CA.

Each template holds, for its domain D:
    doctor.1@D, doctor.2@D  active, with keys and the test password
    doctor.3@D              suspended (with keys)
    doctor.4@D              red-listed (with keys)
    doctor.5@D              active, without keys
"""

from __future__ import annotations

import asyncio
import imaplib
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import HostPort, load_settings
from crypto import keystore, smime
from crypto.ca import ServiceCa, export_chain
from crypto.sealing import KeySealer
from directory.admin.trust import TrustDomainInput, add_trust_domain
from directory.models import Mailbox
from gateway.pipeline import Copy
from mailserver.app import Runtime, Service, open_runtime
from mailserver.delivery.service import DeliveryService
from mailserver.imap.service import ImapService
from mailserver.lookup.listener import LookupService
from mailserver.mx.listener import MxListener
from mailserver.queue.enqueue import Submission, enqueue
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Delivery, Origin, QueuedMessage, QueueEvent
from mailserver.queue.wakeup import Wakeup
from mailserver.smtp.listener import SubmissionListener
from storage.audit import AuditEntry
from storage.base import utcnow
from storage.database import Database
from tests.integration.directory.seed import PASSWORD, practitioner_with_mailbox

DOMAINS = ("a.test", "b.test", "c.test")
SALUS = Path(sys.executable).parent / "salus"
SUSPENDED, RED_LISTED, KEYLESS = 3, 4, 5


def doctor(n: int, domain: str) -> str:
    return f"doctor.{n}@{domain}"


async def _seed(data_dir: Path, domain: str) -> None:
    settings = load_settings(data_dir)
    db = Database(settings.database_url)
    sealer = KeySealer.from_data_dir(data_dir)
    ca = ServiceCa.load(data_dir, sealer)
    try:
        for n in range(1, 6):
            await practitioner_with_mailbox(db, n, domain=domain)
            if n == KEYLESS:
                continue
            keys = await asyncio.to_thread(
                keystore.generate, ca, sealer, doctor(n, domain), f"Dr Alex{n} Martin{n}", utcnow()
            )
            async with db.write() as session:
                await keystore.store(session, keys, utcnow())
        async with db.write() as session:
            await session.execute(
                update(Mailbox)
                .where(Mailbox.address == doctor(SUSPENDED, domain))
                .values(status="suspended")
            )
            await session.execute(
                update(Mailbox)
                .where(Mailbox.address == doctor(RED_LISTED, domain))
                .values(red_list=True)
            )
    finally:
        await db.dispose()


def _make_template(root: Path, domain: str) -> Path:
    data_dir = root / domain
    subprocess.run(
        [str(SALUS), "init", "--data-dir", str(data_dir), "--domain", domain],
        check=True,
        capture_output=True,
        timeout=120,
    )
    asyncio.run(_seed(data_dir, domain))
    return data_dir


@pytest.fixture(scope="session")
def operator_templates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Initialised and seeded data dirs for a.test, b.test and c.test (made once)."""
    root = tmp_path_factory.mktemp("operators")
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    with ThreadPoolExecutor(len(DOMAINS)) as pool:
        made = list(pool.map(lambda d: _make_template(root, d), DOMAINS))
    return dict(zip(DOMAINS, made, strict=True))


LISTENERS = (
    "smtp.submission",
    "smtp.submissions",
    "smtp.mx",
    "imap.listen",
    "imap.listen_tls",
    "http.listen",
    "lookup.listen",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environ(overrides: dict[str, Any]) -> dict[str, str]:
    env = {f"SALUS_{k.replace('.', '__').upper()}": "127.0.0.1:0" for k in LISTENERS}
    env.update({f"SALUS_{k.replace('.', '__').upper()}": str(v) for k, v in overrides.items()})
    return env


def _factories(wakeup: Wakeup) -> dict[str, Callable[[Runtime], Service]]:
    return {
        "delivery": lambda rt: DeliveryService(rt, wakeup, poll_seconds=0.2),
        "mx": lambda rt: MxListener(rt, wakeup),
        "lookup": LookupService,
        "imap": ImapService,
        "submission": lambda rt: SubmissionListener(
            rt,
            wakeup,
            name="submission",
            address=rt.settings.smtp.submission,
            implicit_tls=False,
            greeting_pause=0.0,
        ),
    }


@dataclass
class Operator:
    domain: str
    data_dir: Path
    runtime: Runtime
    services: dict[str, Service] = field(default_factory=dict)
    wakeup: Wakeup = field(default_factory=Wakeup)

    async def serve(self, *names: str) -> None:
        """Start the named services (delivery, mx, lookup, imap, submission)."""
        for name in names:
            await self.start(name, _factories(self.wakeup)[name])

    @property
    def db(self) -> Database:
        return self.runtime.db

    def service(self, name: str) -> Any:
        return self.services[name]

    def port(self, name: str) -> int:
        return int(self.services[name].port)  # type: ignore[attr-defined]

    def ca_chain(self) -> bytes:
        return export_chain(self.data_dir)

    async def start(self, name: str, factory: Callable[[Runtime], Service]) -> Service:
        service = factory(self.runtime)
        await service.start()
        self.services[name] = service
        return service

    async def stop(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is not None:
            await service.stop()

    async def trust(
        self,
        other: Operator,
        *,
        ca_pem: bytes | None = None,
        relay: HostPort | None = None,
        lookup: HostPort | None = None,
        domain: str | None = None,
    ) -> None:
        """Register `other` in this operator's trust list (as `salus trust add` does)."""
        peer = TrustDomainInput(
            domain=domain or other.domain,
            ca_pem=ca_pem if ca_pem is not None else other.ca_chain(),
            relay=relay or HostPort("127.0.0.1", other.port("mx") if "mx" in other.services else 9),
            lookup=lookup
            or HostPort("127.0.0.1", other.port("lookup") if "lookup" in other.services else 9),
        )
        async with self.db.write() as session:
            await add_trust_domain(
                session,
                "test",
                peer,
                local_domains=self.runtime.settings.service.local_domains,
                replace=True,
            )
        self.runtime.trust.invalidate()
        await self.runtime.trust.server_context()  # listeners see it now, not in seconds

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
            )
            return list(rows.scalars())

    async def deliveries(self) -> list[Delivery]:
        async with self.db.read() as session:
            return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())

    async def messages(self) -> list[QueuedMessage]:
        async with self.db.read() as session:
            rows = await session.execute(select(QueuedMessage).order_by(QueuedMessage.received_at))
            return list(rows.scalars())

    async def events(self, queue_id: str) -> list[QueueEvent]:
        async with self.db.read() as session:
            rows = await session.execute(
                select(QueueEvent).where(QueueEvent.queue_id == queue_id).order_by(QueueEvent.id)
            )
            return list(rows.scalars())


@asynccontextmanager
async def operators(
    templates: dict[str, Path],
    tmp_path: Path,
    domains: Iterable[str] = DOMAINS[:2],
    settings: dict[str, Any] | None = None,
    per_operator: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[dict[str, Operator]]:
    """Fresh copies of the template operators, with runtimes open (no service started).
    `settings` ({"delivery.retry_base_seconds": 1, ...}) apply to every operator,
    `per_operator` ({"b.test": {"smtp.mx": "127.0.0.1:2525"}}) to one."""
    running: dict[str, Operator] = {}
    try:
        for domain in domains:
            data_dir = tmp_path / domain
            shutil.copytree(templates[domain], data_dir)
            values = {
                "gateway.crypto_workers": 1,  # several operators share this machine's cores
                **(settings or {}),
                **(per_operator or {}).get(domain, {}),
            }
            loaded = load_settings(data_dir, environ=_environ(values))
            operator = Operator(domain, data_dir, await open_runtime(loaded))
            running[domain] = operator
            await operator.start("crypto", lambda rt: rt.crypto_pool)
        yield running
    finally:
        for op in running.values():
            for name in list(op.services)[::-1]:
                await op.stop(name)
            await op.runtime.mailbox_events.close()
            await op.runtime.db.dispose()


def letter(sender: str, recipient: str, text: str, *, headers: str = "") -> tuple[str, bytes]:
    """(Message-ID, message) of a plain letter, CRLF."""
    message_id = f"{secrets.token_hex(8)}@{sender.rpartition('@')[2]}"
    return message_id, (
        f"From: Dr Sender <{sender}>\r\nTo: <{recipient}>\r\nSubject: Consultation\r\n"
        f"Message-ID: <{message_id}>\r\nDate: {format_datetime(utcnow())}\r\n{headers}"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        f"{text}\r\n"
    ).encode()


async def protect(
    op: Operator, sender: str, recipient: str, message: bytes, *, signer: str | None = None
) -> bytes:
    """`message` signed with the key of `signer` (default: the sender) at `op` and
    encrypted for the certificate `recipient`'s operator publishes: what the protect
    step of the pipeline makes for a remote recipient."""
    keys = await op.runtime.key_lookup.keys(recipient)
    async with op.db.read() as session:
        pair = await keystore.signer(
            session, KeySealer.from_data_dir(op.data_dir), op.data_dir, signer or sender
        )
    outer, entity = smime.split_message(message)
    form = keys.crypto if keys.crypto != "openpgp" else "smime"
    sealed = smime.sign_and_encrypt(
        entity, pair.key_pem, pair.chain_pem, [keys.certificate_pem], form
    )
    return smime.join_message(outer, sealed)


async def revoke(op: Operator, address: str) -> None:
    """Revoke `address`'s certificates at `op`, as `salus keys revoke` does: the mailbox
    has no active key afterwards and `op`'s CRL lists them."""
    ca = ServiceCa.load(op.data_dir, KeySealer.from_data_dir(op.data_dir))
    async with op.db.write() as session:
        await keystore.revoke(session, ca, address, utcnow())


async def enqueue_message(
    op: Operator, sender: str, recipients: Iterable[str], content: bytes, message_id: str
) -> str:
    """Queue `content` at `op` as an accepted submission; wake its delivery workers."""
    queue_id = new_queue_id()
    submission = Submission(
        queue_id, message_id, sender, Origin.SUBMISSION, [Copy(content, tuple(recipients))]
    )
    async with op.db.write() as session:
        await enqueue(session, op.runtime.at_rest, submission)
    op.wakeup.notify()
    return queue_id


async def wait_until(check: Callable[[], Awaitable[bool]], *, within: float = 60.0) -> None:
    """Poll `check` until it holds (a bound on waiting, not a timing assertion)."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still not true after {within} s")
        await asyncio.sleep(0.1)


async def statuses(op: Operator) -> list[tuple[str, str]]:
    return [(d.recipient, d.status) for d in await op.deliveries()]


def imap_messages(op: Operator, address: str, password: str = PASSWORD) -> list[bytes]:
    """Every message of `address`'s INBOX at `op`, read over IMAPS (blocking)."""
    context = ssl.create_default_context(cadata=op.ca_chain().decode("ascii"))
    context.check_hostname = False
    _, port = op.service("imap").ports
    with imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=context, timeout=10) as client:
        client.login(address, password)
        client.select("INBOX")
        _, data = client.uid("SEARCH", "ALL")
        found = []
        for uid in data[0].split():
            _, parts = client.uid("FETCH", uid, "(BODY.PEEK[])")
            found.append(bytes(parts[0][1]))
        return found


__all__ = [
    "PASSWORD",
    "Operator",
    "doctor",
    "enqueue_message",
    "free_port",
    "imap_messages",
    "letter",
    "operator_templates",
    "operators",
    "protect",
    "revoke",
    "statuses",
    "wait_until",
]
