"""The service CA's CRL, kept from going stale by `salus serve`.

The CRL lives 30 days (`crypto.policy.CRL_LIFETIME`); revocations and `salus keys crl`
re-sign it, and without them it would expire, and every relying party that checks it
would refuse our mailboxes' signatures. So every node checks it an hour apart and
re-signs it when fewer than `ca.crl_refresh_days` days are left before its next update.

Running on every node is harmless: the check and the signing happen under the CRL row's
lock (`crypto.keystore.refresh_crl`), so one node re-signs and the others find a fresh
CRL. Each re-signing appends a `ca.crl` audit entry (the actor `system:ca`, the CRL
number, how many serials it lists, its next update) in the transaction that stores it.
Every pass then mirrors the stored CRL to `DIR/ca/crl.pem` when it differs, so a node
whose data dir is its own also publishes what another node signed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable

from cryptography import x509

from config.logging import Event, get_logger
from config.settings import Settings
from crypto import keystore
from crypto.ca import CaPaths, ServiceCa
from crypto.errors import CryptoError
from crypto.service_key import ServiceKeyError
from mailserver.periodic import PeriodicService
from storage import audit
from storage.base import utcnow
from storage.database import Database

ACTOR = "system:ca"
log = get_logger(__name__)


class CrlRefreshService(PeriodicService):
    """Checks the CRL shortly after start, then every `interval` seconds. `clock` and
    `sleep` are injectable: tests move time instead of waiting for it."""

    name = "crl-refresh"
    failed = Event.CA_CRL_FAILED

    def __init__(
        self,
        settings: Settings,
        db: Database,
        open_ca: Callable[[], ServiceCa],
        *,
        clock: Callable[[], dt.datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        interval: float = 3600.0,
        first_delay: float = 60.0,
    ) -> None:
        super().__init__(interval=interval, first_delay=first_delay, sleep=sleep)
        self._data_dir = settings.data_dir
        self._domain = settings.service.domain
        self._margin = dt.timedelta(days=settings.ca.crl_refresh_days)
        self._db = db
        self._open_ca = open_ca
        self._clock = clock

    def enabled(self) -> bool:
        # A data dir without a CA (never `salus init`-ed) has no CRL to keep.
        return CaPaths.of(self._data_dir).issuing_key.exists()

    async def run_pass(self) -> None:
        await self.check()

    def describe_failure(self, exc: Exception) -> str | None:
        # The CA or the service key cannot be opened: say which; the next pass retries.
        return str(exc) if isinstance(exc, CryptoError | ServiceKeyError) else None

    async def check(self) -> x509.CertificateRevocationList | None:
        """One pass: re-sign the CRL if it is due (and audit it), then mirror the stored
        CRL to DIR/ca/crl.pem. Returns the new CRL, or None when it was fresh."""
        now = self._clock()
        async with self._db.write() as session:
            crl = await keystore.refresh_crl(session, self._open_ca, now, self._margin)
            if crl is not None:
                await audit.append(session, self._audit_event(crl))
        async with self._db.read() as session:
            await keystore.write_crl_file(session, self._data_dir)
        if crl is not None:
            log.info(
                Event.CA_CRL_RESIGNED,
                crl_number=keystore.crl_number(crl),
                count=len(crl),
                next_update=_iso(crl.next_update_utc),
            )
        return crl

    def _audit_event(self, crl: x509.CertificateRevocationList) -> audit.AuditEvent:
        detail = {
            "number": keystore.crl_number(crl),
            "revoked": len(crl),
            "next_update": _iso(crl.next_update_utc),
            "reason": f"fewer than {self._margin.days} days left before the next update",
        }
        return audit.AuditEvent(ACTOR, "ca.crl", self._domain, "ok", "system", detail)


def _iso(when: dt.datetime | None) -> str:
    return "" if when is None else when.isoformat(timespec="seconds")
