"""One delivery attempt of a claimed row whose recipient belongs to another operator.

Three steps, so that no database transaction is open while the network is:
1. take the row (still pending, still ours) and extend its lease over the longest
   relay attempt, read the queued content;
2. relay it (`outbound_content` guarantees it leaves signed and encrypted; `relay`
   guarantees mutual TLS with the trusted peer or nothing);
3. record `relayed` (peer, TLS version, peer certificate: `salus trace` shows them)
   with its audit entry, or hand the failure to the worker's failure path, which
   defers with back-off, sends the delay DSN and bounces with a failure DSN at expiry.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select

from config.logging import Event, get_logger
from crypto import keystore
from crypto.keystore import SmimeKeyPair
from gateway.trust.remote_keys import KeyLookupFailed
from mailserver.app import Runtime
from mailserver.queue import outcome
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import Delivery, Origin, QueuedContent, QueuedMessage
from mailserver.relay.client import Receipt, RelayFailed, Timeouts, relay
from mailserver.relay.outbound import outbound_content
from storage import audit
from storage.audit import AuditEvent
from storage.base import utcnow
from storage.errors import StorageUnavailable

log = get_logger(__name__)
ACTOR = "salus:delivery"
CONCURRENCY = 8  # relays one worker runs at once
Failed = Callable[..., Awaitable[str | None]]


@dataclass(frozen=True, slots=True)
class Taken:
    queue_id: str
    recipient: str
    sender: str
    content: bytes
    report: bool  # generated here (MDN, DSN): signed at relay time


class Relayer:
    """Relays the remote rows one worker has claimed."""

    def __init__(
        self,
        runtime: Runtime,
        owner: str,
        *,
        timeouts: Timeouts | None = None,
        concurrency: int = CONCURRENCY,
    ) -> None:
        self.runtime = runtime
        self.owner = owner
        self.timeouts = timeouts or Timeouts()
        self.concurrency = concurrency

    async def _signer(self, address: str) -> SmimeKeyPair:
        """The S/MIME key of a local mailbox, to sign a report it sends."""
        async with self.runtime.db.read() as session:
            return await keystore.signer(
                session, self.runtime.sealer, self.runtime.settings.data_dir, address
            )

    def is_remote(self, recipient: str) -> bool:
        domain = recipient.rpartition("@")[2].lower()
        return domain not in self.runtime.settings.service.local_domains

    async def remote_ids(self, ids: Sequence[int]) -> list[int]:
        """Which of `ids` are for other operators' recipients, in the order given (none
        when the database is away: the caller's own transaction meets the same fate)."""
        if not ids:
            return []
        try:
            async with self.runtime.db.read() as session:
                rows = await session.execute(
                    select(Delivery.id, Delivery.recipient).where(Delivery.id.in_(ids))
                )
                remote = {row.id for row in rows if self.is_remote(row.recipient)}
        except StorageUnavailable:
            return []
        return [i for i in ids if i in remote]

    async def attempt_all(self, ids: Sequence[int], failed: Failed) -> dict[int, str | None]:
        """Relay several rows at once (the network, not the CPU, is what they wait on),
        at most `concurrency` connections at a time; {row id: new status}."""
        gate = asyncio.Semaphore(self.concurrency)

        async def one(delivery_id: int) -> str | None:
            async with gate:
                return await self.attempt(delivery_id, failed)

        outcomes = await asyncio.gather(*(one(i) for i in ids))
        return dict(zip(ids, outcomes, strict=True))

    async def attempt(self, delivery_id: int, failed: Failed) -> str | None:
        """Try once; `failed(delivery_id, reply, permanent=…)` records a failure."""
        try:
            taken = await self._take(delivery_id)
        except StorageUnavailable:
            log.warning(Event.STORAGE_UNAVAILABLE, operation="relay", delivery_id=str(delivery_id))
            return None
        if taken is None:
            return None
        try:
            content = await outbound_content(
                self.runtime.key_lookup,
                self.runtime.crypto_pool,
                taken.content,
                taken.recipient,
                report_signer=self._signer if taken.report else None,
            )
            receipt = await relay(
                self.runtime.trust,
                domain=taken.recipient.rpartition("@")[2].lower(),
                sender=taken.sender,
                recipients=[taken.recipient],
                content=content,
                helo=self.runtime.settings.service.hostname,
                timeouts=self.timeouts,
            )
        except KeyLookupFailed as exc:
            return await failed(delivery_id, exc.reply(), permanent=not exc.temporary)
        except RelayFailed as exc:
            log.info(
                Event.DELIVERY_DEFERRED if exc.temporary else Event.DELIVERY_BOUNCED,
                queue_id=taken.queue_id,
                delivery_id=str(delivery_id),
                reply=exc.reply[:200],
            )
            return await failed(delivery_id, exc.reply, permanent=not exc.temporary)
        return await self._relayed(delivery_id, receipt)

    async def _take(self, delivery_id: int) -> Taken | None:
        now = utcnow()
        async with self.runtime.db.write() as session:
            row = await outcome.locked_pending(session, self.runtime.db, delivery_id, self.owner)
            message = None if row is None else await session.get(QueuedMessage, row.queue_id)
            stored = None if row is None else await session.get(QueuedContent, row.content_id)
            if row is None or message is None or stored is None or stored.sealed is None:
                return None
            # The lease covers the longest attempt, so no other worker relays it meanwhile.
            row.lease_until = now + dt.timedelta(seconds=self.timeouts.total + 60)
            content = self.runtime.at_rest.open(stored.sealed, content_context(stored.id))
            report = message.origin == Origin.DSN.value
            return Taken(row.queue_id, row.recipient, message.sender, content, report)

    async def _relayed(self, delivery_id: int, receipt: Receipt) -> str | None:
        now = utcnow()
        detail = receipt.describe()
        try:
            async with self.runtime.db.write() as session:
                row = await outcome.locked_pending(
                    session, self.runtime.db, delivery_id, self.owner
                )
                if row is None:
                    return None
                await outcome.relayed(session, row, detail, now)
                await audit.append(session, _event(row, receipt))
        except StorageUnavailable:
            # Relayed but not recorded: the lease runs out and the row is relayed again
            # (at least once, never lost; the peer sees a duplicate Message-ID).
            log.warning(Event.STORAGE_UNAVAILABLE, operation="record relay")
            return None
        log.info(
            Event.DELIVERY_RELAYED,
            queue_id=row.queue_id,
            delivery_id=str(delivery_id),
            domain=receipt.peer.domain,
            tls_version=receipt.tls_version,
        )
        return "relayed"


def _event(row: Delivery, receipt: Receipt) -> AuditEvent:
    return AuditEvent(
        ACTOR,
        "delivery.relayed",
        row.queue_id,
        "relayed",
        "",
        {
            "recipient": row.recipient,
            "delivery_id": row.id,
            "peer": receipt.peer.domain,
            "peer_address": str(receipt.address),
            "tls_version": receipt.tls_version,
            "peer_certificate": receipt.peer.serial,
            "peer_fingerprint": receipt.peer.fingerprint,
            "reply": receipt.reply[:200],
        },
    )
