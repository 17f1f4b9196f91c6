"""The queue on SQLite and PostgreSQL: one commit holds the message and its rows, the
content is sealed, claims are exclusive, and a dead worker's lease comes back."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, text

from crypto.at_rest import AtRestCipher
from mailserver.queue import outcome
from mailserver.queue.claim import Lease, any_due, claim, release_all_leases
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import Delivery, QueuedContent, QueuedMessage
from storage.base import utcnow
from storage.database import Database
from tests.integration.queue.conftest import Enqueue


async def test_enqueue_writes_message_rows_and_sealed_content(
    db: Database, put: Enqueue, at_rest: AtRestCipher
) -> None:
    queue_id = await put(["doctor.2@salus.test", "doctor.3@salus.test"])
    async with db.read() as session:
        msg = await session.get(QueuedMessage, queue_id)
        rows = (await session.execute(select(Delivery).where(Delivery.queue_id == queue_id))).scalars().all()
        content = await session.get(QueuedContent, f"{queue_id}.0")
        raw = (await session.execute(text("SELECT sealed FROM queue_contents"))).scalar_one()
    assert msg is not None and msg.message_id == "m1@salus.test"
    assert sorted(r.recipient for r in rows) == ["doctor.2@salus.test", "doctor.3@salus.test"]
    assert {r.status for r in rows} == {"queued"}
    assert content is not None and content.sealed is not None
    assert b"Confidential body" not in bytes(raw)
    opened = at_rest.open(content.sealed, content_context(content.id))
    assert b"Confidential body" in opened


async def test_a_failed_transaction_leaves_nothing(db: Database, put: Enqueue) -> None:
    try:
        async with db.write() as session:
            session.add(QueuedMessage(id="X", message_id="m", sender="", origin="dsn", size=1))
            await session.flush()
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with db.read() as session:
        assert await session.get(QueuedMessage, "X") is None


async def test_claims_are_exclusive_and_expired_leases_come_back(
    db: Database, put: Enqueue
) -> None:
    await put([f"doctor.{n}@salus.test" for n in range(5)])
    assert await any_due(db)
    first = await claim(db, Lease("worker-a", 30), limit=3)
    second = await claim(db, Lease("worker-b", 30), limit=10)
    assert len(first) == 3 and len(second) == 2
    assert not set(first) & set(second)
    assert await claim(db, Lease("worker-c", 30), limit=10) == []
    assert not await any_due(db)
    later = utcnow() + dt.timedelta(seconds=31)
    back = await claim(db, Lease("worker-c", 30), limit=10, now=later)
    assert sorted(back) == sorted(first + second)


async def test_concurrent_claimers_never_share_a_row(db: Database, put: Enqueue) -> None:
    for batch in range(4):
        await put([f"r{batch}.{n}@salus.test" for n in range(25)])
    results = await asyncio.gather(
        *(claim(db, Lease(f"worker-{n}", 30), limit=7) for n in range(8))
    )
    claimed = [i for ids in results for i in ids]
    assert len(claimed) == len(set(claimed)) == 56


async def test_release_all_leases_makes_rows_claimable_again(db: Database, put: Enqueue) -> None:
    await put(["doctor.2@salus.test"])
    assert len(await claim(db, Lease("dead-worker", 3600), limit=5)) == 1
    assert await release_all_leases(db) == 1
    assert len(await claim(db, Lease("new-worker", 30), limit=5)) == 1


async def test_final_outcome_is_recorded_once_and_content_dropped(
    db: Database, put: Enqueue
) -> None:
    queue_id = await put(["doctor.2@salus.test", "doctor.3@salus.test"])
    ids = await claim(db, Lease("w", 30), limit=5)
    now = utcnow()
    async with db.write() as session:
        row = await outcome.locked_pending(session, db, ids[0], "w")
        assert row is not None
        await outcome.delivered(session, row, "stored", now)
    async with db.write() as session:
        assert await outcome.locked_pending(session, db, ids[0], "w") is None
        assert await outcome.locked_pending(session, db, ids[1], "someone-else") is None
        content = await session.get(QueuedContent, f"{queue_id}.0")
        assert content is not None and content.sealed is not None
        row = await outcome.locked_pending(session, db, ids[1], "w")
        assert row is not None
        await outcome.bounced(session, row, "550 5.2.1 suspended", now)
    async with db.read() as session:
        content = await session.get(QueuedContent, f"{queue_id}.0")
        statuses = (await session.execute(select(Delivery.status).order_by(Delivery.id))).scalars().all()
    assert content is not None and content.sealed is None
    assert statuses == ["delivered", "bounced"]
