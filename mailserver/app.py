"""The app that `salus serve` runs: shared resources (settings, database, TLS contexts)
and the list of services (listeners, delivery workers) started and stopped together.

Start order is the list order; stop is the reverse. SIGTERM/SIGINT drain: every service
first stops accepting, then finishes or refuses what is in flight (SMTP answers 421).
SIGHUP reloads the TLS certificate into the live contexts.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import os
import signal
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from config.settings import Settings
from crypto import service_key, tls_certificate
from crypto.at_rest import AtRestCipher
from crypto.pool import CryptoPool
from crypto.sealing import KeySealer
from mailserver import metrics
from mailserver.lookup.client import LookupClient
from mailserver.store.events import MailboxEvents
from mailserver.tls import ReloadableContexts, TlsMaterial
from mailserver.trust_tls import TrustSpace
from storage import migrate
from storage.database import Database


@dataclass
class Runtime:
    """What every service of one process shares."""

    settings: Settings
    db: Database
    tls: ReloadableContexts
    at_rest: AtRestCipher
    node_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}")
    # IDLE wake-ups: publish(mailbox_id) after a delivering transaction commits.
    mailbox_events: MailboxEvents = field(init=False)
    # The trust list and its TLS contexts; remote recipients' keys (cached lookups).
    trust: TrustSpace = field(init=False)
    key_lookup: LookupClient = field(init=False)
    # Signing, encryption and decryption run in these processes (a service: started
    # first, stopped last, by `service_factories`).
    crypto_pool: CryptoPool = field(init=False)

    def __post_init__(self) -> None:
        self.mailbox_events = MailboxEvents(self.db)
        self.crypto_pool = CryptoPool(
            self.settings.gateway.crypto_workers or None, observe=metrics.observe_crypto
        )
        self.trust = TrustSpace(self.db, self.tls)
        self.key_lookup = LookupClient(
            self.trust, cache_seconds=self.settings.lookup.cache_seconds
        )

    @functools.cached_property
    def sealer(self) -> KeySealer:
        """Opens the mailbox private keys (sealed under the data dir's service key)."""
        return KeySealer.from_data_dir(self.settings.data_dir)


class Service(Protocol):
    """A part of the server with a life cycle."""

    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


ServiceFactory = Callable[[Runtime], Service]


def tls_material(settings: Settings) -> TlsMaterial:
    """The configured certificate, or the one `salus init` made, whose key is encrypted
    with a password derived from the service key (crypto.tls_certificate)."""
    if settings.tls.key_file is not None:
        return TlsMaterial(settings.tls_cert_file, settings.tls_key_file)
    current, previous = service_key.load_with_previous(service_key.key_path(settings.data_dir))
    password = tls_certificate.key_password(settings.tls_key_file, (current, *previous))
    return TlsMaterial(settings.tls_cert_file, settings.tls_key_file, password)


async def open_runtime(settings: Settings) -> Runtime:
    db = Database(settings.database_url)
    await migrate.upgrade(db)
    current, previous = service_key.load_with_previous(service_key.key_path(settings.data_dir))
    runtime = Runtime(
        settings=settings,
        db=db,
        tls=ReloadableContexts(tls_material(settings)),
        at_rest=AtRestCipher(current, previous),
    )
    runtime.sealer = KeySealer(current, previous)
    return runtime


def settle_heap() -> None:
    """Put what is alive once every service is up out of the garbage collector's walks.

    Modules, SQLAlchemy's metadata and statement caches, the TLS contexts and the
    services live as long as the process, yet each full collection walked all of them
    again: 45-93 ms a collection under the paced submission load, a pause of the event
    loop that every open session waited through, and most of the paced PostgreSQL
    load's p99 (docs/benchmarks.md). `gc.freeze` moves them to the permanent generation;
    what is allocated afterwards is collected as before. An object frozen here that is
    later dropped while in a cycle is not reclaimed: at most the TLS contexts replaced on
    SIGHUP or when the trust list changes.
    """
    gc.collect()
    gc.freeze()


async def run(runtime: Runtime, factories: Sequence[ServiceFactory]) -> None:
    """Start every service, wait for SIGTERM/SIGINT, then stop them in reverse order."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, runtime.tls.reload)
    services: list[Service] = []
    try:
        for factory in factories:
            service = factory(runtime)
            await service.start()
            services.append(service)
        settle_heap()
        await stop.wait()
    finally:
        for service in reversed(services):
            await service.stop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await runtime.mailbox_events.close()
        await runtime.db.dispose()
