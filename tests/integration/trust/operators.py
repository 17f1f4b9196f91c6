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
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import HostPort, load_settings
from crypto import keystore
from crypto.ca import ServiceCa, export_chain
from crypto.sealing import KeySealer
from directory.admin.trust import TrustDomainInput, add_trust_domain
from directory.models import Mailbox
from mailserver.app import Runtime, Service, open_runtime
from mailserver.queue.models import Delivery, QueuedMessage, QueueEvent
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
                update(Mailbox).where(Mailbox.address == doctor(SUSPENDED, domain)).values(
                    status="suspended"
                )
            )
            await session.execute(
                update(Mailbox).where(Mailbox.address == doctor(RED_LISTED, domain)).values(
                    red_list=True
                )
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


def _environ(overrides: dict[str, Any]) -> dict[str, str]:
    env = {f"SALUS_{k.replace('.', '__').upper()}": "127.0.0.1:0" for k in LISTENERS}
    env.update({f"SALUS_{k.replace('.', '__').upper()}": str(v) for k, v in overrides.items()})
    return env


@dataclass
class Operator:
    domain: str
    data_dir: Path
    runtime: Runtime
    services: dict[str, Service] = field(default_factory=dict)

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
            lookup=lookup or HostPort(
                "127.0.0.1", other.port("lookup") if "lookup" in other.services else 9
            ),
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
    **overrides: Any,
) -> AsyncIterator[dict[str, Operator]]:
    """Fresh copies of the template operators, with runtimes open (no service started).
    `overrides` are settings ("delivery.retry_base_seconds": 1, ...) for every operator."""
    running: dict[str, Operator] = {}
    try:
        for domain in domains:
            data_dir = tmp_path / domain
            shutil.copytree(templates[domain], data_dir)
            settings = load_settings(data_dir, environ=_environ(overrides))
            running[domain] = Operator(domain, data_dir, await open_runtime(settings))
        yield running
    finally:
        for op in running.values():
            for name in list(op.services)[::-1]:
                await op.stop(name)
            await op.runtime.mailbox_events.close()
            await op.runtime.db.dispose()


__all__ = ["PASSWORD", "Operator", "doctor", "operator_templates", "operators"]
