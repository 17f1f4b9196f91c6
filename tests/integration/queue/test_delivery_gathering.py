"""How the delivery workers of one node gather rows, on SQLite and PostgreSQL: they claim
one at a time; after a claim that found less than a full batch the node's next claim
waits `gather_seconds`, so messages arriving one by one are delivered in batches however
many workers wait; full batches follow each other without a pause (a backlog drains)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import Settings
from crypto.at_rest import AtRestCipher
from directory.models import Mailbox
from mailserver.app import Runtime
from mailserver.delivery import service as delivery_service
from mailserver.delivery.service import DeliveryService
from mailserver.queue.claim import Claimed, Lease
from mailserver.queue.models import Delivery, DeliveryStatus
from mailserver.queue.wakeup import Wakeup
from mailserver.tls import ReloadableContexts, TlsMaterial
from storage.database import Database
from tests.integration.queue.conftest import Enqueue

RCPT = "doctor.2@salus.test"
GATHER = 0.3


@dataclass
class Claim:
    started: float
    ended: float
    rows: int


@pytest.fixture
def runtime(db: Database, at_rest: AtRestCipher, tmp_path: Path) -> Runtime:
    settings = Settings(data_dir=tmp_path)
    return Runtime(settings, db, ReloadableContexts(TlsMaterial(tmp_path, tmp_path)), at_rest)


@pytest.fixture
def claims(monkeypatch: pytest.MonkeyPatch) -> list[Claim]:
    """Every claim the service makes: when it started and ended, how many rows."""
    seen: list[Claim] = []
    real = delivery_service.claim_rows

    async def recorded(db: Database, lease: Lease, *, limit: int) -> Sequence[Claimed]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        rows = await real(db, lease, limit=limit)
        seen.append(Claim(started, loop.time(), len(rows)))
        return rows

    monkeypatch.setattr(delivery_service, "claim_rows", recorded)
    return seen


async def _recipient(db: Database) -> None:
    async with db.write() as session:
        session.add(Mailbox(address=RCPT, kind="personal"))


async def _delivered(db: Database, count: int) -> None:
    from sqlalchemy import func, select  # noqa: PLC0415

    async with asyncio.timeout(30):
        while True:
            async with db.read() as session:
                done = await session.scalar(
                    select(func.count()).where(Delivery.status == DeliveryStatus.DELIVERED.value)
                )
            if done == count:
                return
            await asyncio.sleep(0.05)


def _service(
    runtime: Runtime, wakeup: Wakeup, monkeypatch: pytest.MonkeyPatch, batch: int
) -> DeliveryService:
    service = DeliveryService(runtime, wakeup, gather_seconds=GATHER, batch=batch, poll_seconds=0.5)
    monkeypatch.setattr(service, "worker_count", lambda: 4)  # as on PostgreSQL
    return service


@pytest.fixture
async def nudged(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[DeliveryService, Wakeup]]:
    """A running service of four workers (batches of 16) for the recipient, and the
    nudge the submission listeners would give it."""
    await _recipient(runtime.db)
    wakeup = Wakeup()
    service = _service(runtime, wakeup, monkeypatch, batch=16)
    await service.start()
    try:
        yield service, wakeup
    finally:
        await service.stop()


async def test_rows_arriving_one_by_one_are_claimed_in_batches(
    runtime: Runtime, put: Enqueue, claims: list[Claim], nudged: tuple[DeliveryService, Wakeup]
) -> None:
    service, wakeup = nudged
    for _ in range(12):  # one message every 50 ms for 0.6 s, each with a nudge
        await put([RCPT])
        wakeup.notify()
        await asyncio.sleep(0.05)
    await _delivered(runtime.db, 12)
    await service.stop()
    with_rows = [c for c in claims if c.rows]
    assert sum(c.rows for c in with_rows) == 12
    # 0.6 s of arrivals, a claim at most every GATHER seconds: four claims at most
    # (each of four workers claiming at its own nudge would make about twelve).
    assert len(with_rows) <= 4, claims
    ordered = sorted(claims, key=lambda c: c.started)
    for before, after in itertools.pairwise(ordered):
        assert after.started >= before.ended  # one claim at a time on the node
        if before.rows < 16:
            assert after.started - before.ended >= GATHER - 0.02, (before, after)


async def test_full_batches_follow_each_other_without_waiting(
    runtime: Runtime, put: Enqueue, claims: list[Claim], monkeypatch: pytest.MonkeyPatch
) -> None:
    await _recipient(runtime.db)
    for _ in range(20):
        await put([RCPT])
    service = _service(runtime, Wakeup(), monkeypatch, batch=5)
    await service.start()
    try:
        await _delivered(runtime.db, 20)
    finally:
        await service.stop()
    full = sorted((c for c in claims if c.rows == 5), key=lambda c: c.started)
    assert len(full) == 4
    # the three claims after the first full one did not wait GATHER each
    assert full[-1].started - full[0].ended < GATHER, full


async def test_no_claim_once_stopping(
    runtime: Runtime, put: Enqueue, claims: list[Claim], nudged: tuple[DeliveryService, Wakeup]
) -> None:
    """Workers waiting for the node's turn when the service stops claim nothing more."""
    service, wakeup = nudged
    await put([RCPT])
    wakeup.notify()
    await _delivered(runtime.db, 1)  # a short claim: the next one waits GATHER
    await put([RCPT])
    wakeup.notify()  # every worker wakes and queues for its turn
    await asyncio.sleep(0.05)
    stopping = asyncio.get_running_loop().time()
    await service.stop()
    assert [c for c in claims if c.started >= stopping] == []
