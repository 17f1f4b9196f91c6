"""`salus serve` keeps the CA's CRL from going stale: the running service re-signs a CRL
close to its next update (signed by the issuing CA, still listing the revoked serials,
audited, mirrored to DIR/ca/crl.pem), leaves a fresh one alone, and of two nodes on one
PostgreSQL due at the same moment only one re-signs. Time is moved, not waited for: the
service's clock and sleep are the test's."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from config.settings import CaSettings, Settings
from crypto import keystore, policy
from crypto.ca import CaPaths, ServiceCa
from crypto.sealing import KeySealer
from crypto.service_key import ServiceKey
from mailserver.crl_refresh import CrlRefreshService
from storage import audit
from storage.database import Database

T0 = dt.datetime.now(dt.UTC).replace(microsecond=0)
DAY = dt.timedelta(days=1)


class Operator:
    """A data dir with a service CA and two key generations, made once (RSA-3072)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        sealer = KeySealer(ServiceKey(b"\x07" * 32))
        self.ca = ServiceCa.create(data_dir, sealer, "salus.test", T0 - DAY)
        self.alice = keystore.generate(self.ca, sealer, "alice@salus.test", "Alice", T0)
        self.bob = keystore.generate(self.ca, sealer, "bob@salus.test", "Bob", T0)
        self.settings = Settings(data_dir=data_dir, ca=CaSettings(crl_refresh_days=7))
        self.opened = 0

    def open_ca(self) -> ServiceCa:
        self.opened += 1
        return self.ca

    async def revoke_alice(self, db: Database) -> x509.CertificateRevocationList:
        """Alice revoked at T0 (a CRL signed then), Bob still valid."""
        async with db.write() as session:
            await keystore.store(session, self.alice, T0)
            await keystore.store(session, self.bob, T0)
        async with db.write() as session:
            await keystore.revoke(session, self.ca, "alice@salus.test", T0)
        async with db.read() as session:
            crl = await keystore.current_crl(session)
        assert crl is not None
        return crl


@pytest.fixture(scope="module")
def operator(tmp_path_factory: pytest.TempPathFactory) -> Operator:
    return Operator(tmp_path_factory.mktemp("crl-refresh"))


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class SteppedSleep:
    """The service's sleep, stepped by the test: each call reports itself, then waits."""

    def __init__(self) -> None:
        self.calls: asyncio.Queue[float] = asyncio.Queue()
        self._go: asyncio.Queue[None] = asyncio.Queue()

    async def __call__(self, seconds: float) -> None:
        self.calls.put_nowait(seconds)
        await self._go.get()

    async def paused(self) -> float:
        """How long the service asked to sleep, once it is asleep."""
        return await asyncio.wait_for(self.calls.get(), timeout=30)

    def wake(self) -> None:
        self._go.put_nowait(None)


async def _crl_entries(db: Database) -> list[dict[str, Any]]:
    return [e async for e in audit.export(db) if e["action"] == "ca.crl"]


def _stored_file(operator: Operator) -> x509.CertificateRevocationList:
    return x509.load_pem_x509_crl(CaPaths.of(operator.data_dir).crl.read_bytes())


async def test_the_running_service_resigns_a_crl_close_to_expiry_then_leaves_it(
    db: Database, operator: Operator
) -> None:
    before = await operator.revoke_alice(db)
    clock, sleep = Clock(T0 + 25 * DAY), SteppedSleep()  # 5 days left, under the 7-day margin
    service = CrlRefreshService(operator.settings, db, operator.open_ca, clock=clock, sleep=sleep)
    await service.start()
    try:
        assert await sleep.paused() == 60.0  # first delay after start
        sleep.wake()
        assert await sleep.paused() == 3600.0  # one pass done, next check in an hour
        async with db.read() as session:
            after = await keystore.current_crl(session)
        assert after is not None
        assert keystore.crl_number(after) == keystore.crl_number(before) + 1
        assert after.next_update_utc == clock.now + policy.CRL_LIFETIME
        issuing_key = operator.ca.issuing.public_key()
        assert isinstance(issuing_key, rsa.RSAPublicKey)
        assert after.is_signature_valid(issuing_key)
        assert after.issuer == operator.ca.issuing.subject
        assert {e.serial_number for e in after} == {operator.alice.cert.serial_number}
        assert _stored_file(operator) == after
        [entry] = await _crl_entries(db)
        assert (entry["actor"], entry["object"], entry["result"]) == (
            "system:ca",
            "salus.test",
            "ok",
        )
        assert entry["detail"]["number"] == keystore.crl_number(after)
        assert entry["detail"]["revoked"] == 1

        clock.now += DAY  # the new CRL has 29 days left: nothing to do
        sleep.wake()
        assert await sleep.paused() == 3600.0
        async with db.read() as session:
            assert await keystore.current_crl(session) == after
        assert len(await _crl_entries(db)) == 1
        assert service.passes == 2
    finally:
        await service.stop()


async def test_a_fresh_crl_is_left_alone_without_opening_the_ca_key(
    db: Database, operator: Operator
) -> None:
    before = await operator.revoke_alice(db)
    opened = operator.opened
    sleep = SteppedSleep()
    service = CrlRefreshService(
        operator.settings, db, operator.open_ca, clock=Clock(T0 + 22 * DAY), sleep=sleep
    )
    await service.start()
    try:
        await sleep.paused()
        sleep.wake()
        await sleep.paused()
    finally:
        await service.stop()
    async with db.read() as session:
        assert await keystore.current_crl(session) == before
    assert await _crl_entries(db) == []
    assert operator.opened == opened
    assert service.passes == 1
    assert _stored_file(operator) == before  # mirrored all the same


@pytest.mark.postgres
async def test_two_nodes_due_at_once_resign_once(
    db: Database, database_url: str, operator: Operator
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several nodes share a PostgreSQL database")
    before = await operator.revoke_alice(db)
    other = Database(database_url)
    try:
        due = Clock(T0 + 28 * DAY)
        nodes = [
            CrlRefreshService(operator.settings, node_db, operator.open_ca, clock=due)
            for node_db in (db, other)
        ]
        results = await asyncio.gather(*(node.check() for node in nodes))
    finally:
        await other.dispose()
    signed = [crl for crl in results if crl is not None]
    assert len(signed) == 1
    async with db.read() as session:
        after = await keystore.current_crl(session)
    assert after == signed[0]
    assert after is not None and keystore.crl_number(after) == keystore.crl_number(before) + 1
    assert len(await _crl_entries(db)) == 1
