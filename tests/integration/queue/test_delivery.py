"""Local delivery on SQLite and PostgreSQL: exactly one final outcome per recipient,
the message in the INBOX in the same commit, DSNs on permanent failure, back-off on
temporary ones."""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from config.settings import DeliverySettings, Settings
from crypto.at_rest import AtRestCipher
from directory.models import Mailbox
from mailserver.app import Runtime
from mailserver.delivery import local
from mailserver.delivery.local import Deliverer
from mailserver.queue import hold
from mailserver.queue.claim import Lease, claim
from mailserver.queue.enqueue import content_context
from mailserver.queue.models import Delivery, QueuedContent, QueuedMessage, QueueEvent
from mailserver.tls import ReloadableContexts, TlsMaterial
from storage.audit import AuditEntry
from storage.base import utcnow
from storage.database import Database
from tests.integration.queue.conftest import Enqueue, inbox

SENDER = "doctor.1@salus.test"
RCPT = "doctor.2@salus.test"


@pytest.fixture
def runtime(db: Database, at_rest: AtRestCipher, tmp_path: Path) -> Runtime:
    settings = Settings(
        data_dir=tmp_path,
        delivery=DeliverySettings(retry_base_seconds=60, retry_max_seconds=600,
                                  delay_dsn_after_seconds=3600, expire_after_seconds=7200),
    )
    return Runtime(settings, db, ReloadableContexts(TlsMaterial(tmp_path, tmp_path)), at_rest)


async def mailbox(db: Database, address: str, **fields: Any) -> int:
    async with db.write() as session:
        box = Mailbox(address=address, kind="personal", **fields)
        session.add(box)
        await session.flush()
        return box.id


async def run_once(runtime: Runtime, owner: str = "w") -> list[str | None]:
    ids = await claim(runtime.db, Lease(owner, 30), limit=50)
    deliverer = Deliverer(runtime, owner)
    return [await deliverer.attempt(i) for i in ids]


async def rows(db: Database) -> list[Delivery]:
    async with db.read() as session:
        return list((await session.execute(select(Delivery).order_by(Delivery.id))).scalars())


async def test_delivered_into_inbox_with_watchers_woken(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    target = await mailbox(runtime.db, RCPT)
    queue_id = await put([RCPT])
    with runtime.mailbox_events.subscribe([target]) as watcher:
        assert await run_once(runtime) == ["delivered"]
        assert await watcher.wait(1.0)
    (stored,) = await inbox(runtime.db, at_rest, target)
    assert b"Confidential body" in stored
    (row,) = await rows(runtime.db)
    assert row.status == "delivered" and row.final_at is not None
    async with runtime.db.read() as session:
        content = await session.get(QueuedContent, f"{queue_id}.0")
        actions = (await session.execute(select(AuditEntry.action))).scalars().all()
    assert content is not None and content.sealed is None
    assert "delivery.delivered" in actions
    assert await run_once(runtime) == []


async def test_a_row_leased_to_another_worker_is_left_alone(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    target = await mailbox(runtime.db, RCPT)
    await put([RCPT])
    (row_id,) = await claim(runtime.db, Lease("other", 30), limit=5)
    assert await Deliverer(runtime, "me").attempt(row_id) is None
    assert await inbox(runtime.db, at_rest, target) == []


async def test_racing_workers_deliver_exactly_once(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    target = await mailbox(runtime.db, RCPT)
    for _ in range(10):
        await put([RCPT])
    ids = await claim(runtime.db, Lease("w", 30), limit=50)
    results = await asyncio.gather(
        *(Deliverer(runtime, "w").attempt(i) for i in ids for _ in range(3))
    )
    assert results.count("delivered") == 10
    assert len(await inbox(runtime.db, at_rest, target)) == 10


async def test_suspended_mailbox_bounces_with_a_dsn_to_the_sender(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    sender_box = await mailbox(runtime.db, SENDER)
    await mailbox(runtime.db, RCPT, status="suspended")
    queue_id = await put([RCPT])
    assert await run_once(runtime) == ["bounced"]
    assert await run_once(runtime) == ["delivered"]  # the DSN, into the sender's INBOX
    (report,) = await inbox(runtime.db, at_rest, sender_box)
    parsed = email.message_from_bytes(report, policy=email.policy.default)
    assert parsed.get_content_type() == "multipart/report"
    assert b"Status: 5.2.1" in report and f"X-Salus-Queue-ID: {queue_id}".encode() in report
    assert b"Confidential body" not in report
    statuses = [(r.recipient, r.status) for r in await rows(runtime.db)]
    assert statuses == [(RCPT, "bounced"), (SENDER, "delivered")]
    async with runtime.db.read() as session:
        dsn = (await session.execute(
            select(QueuedMessage).where(QueuedMessage.origin == "dsn"))).scalar_one()
        events = (await session.execute(
            select(QueueEvent.event).where(QueueEvent.queue_id == queue_id))).scalars().all()
    assert dsn.sender == ""
    assert events == ["accepted", "dsn-queued", "bounced"]


async def test_over_quota_bounces_5_2_2(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    await mailbox(runtime.db, SENDER)
    await mailbox(runtime.db, RCPT, quota=10)
    await put([RCPT])
    assert await run_once(runtime) == ["bounced"]
    (row,) = [r for r in await rows(runtime.db) if r.recipient == RCPT]
    assert row.last_reply.startswith("552 5.2.2")


async def test_a_failed_dsn_produces_no_further_dsn(runtime: Runtime, put: Enqueue) -> None:
    await mailbox(runtime.db, SENDER, status="suspended")
    await mailbox(runtime.db, RCPT, status="suspended")
    await put([RCPT])
    assert await run_once(runtime) == ["bounced"]
    assert await run_once(runtime) == ["bounced"]  # the DSN itself
    assert await run_once(runtime) == []
    assert [r.status for r in await rows(runtime.db)] == ["bounced", "bounced"]


@pytest.fixture
async def store_fault(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both mailboxes exist, and every store into them fails (a temporary fault)."""
    await mailbox(runtime.db, SENDER)
    await mailbox(runtime.db, RCPT)

    async def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("store fault")

    monkeypatch.setattr(local, "deliver", broken)


async def test_temporary_failures_back_off_then_expire(
    runtime: Runtime, put: Enqueue, store_fault: None
) -> None:
    await put([RCPT])
    assert await run_once(runtime) == ["deferred"]
    (row,) = await rows(runtime.db)
    assert row.status == "deferred" and row.attempts == 1
    assert row.next_attempt_at > row.created_at + dt.timedelta(seconds=59)
    assert await run_once(runtime) == []  # not due yet
    # Two hours later (past expire_after_seconds): the next attempt bounces with 4.4.7.
    async with runtime.db.write() as session:
        past = row.created_at - dt.timedelta(hours=3)
        await session.execute(update(QueuedMessage).values(received_at=past))
        await session.execute(update(Delivery).values(next_attempt_at=past, created_at=past))
    assert await run_once(runtime) == ["bounced"]
    statuses = {r.recipient: (r.status, r.last_reply[:9]) for r in await rows(runtime.db)}
    assert statuses[RCPT] == ("bounced", "451 4.4.7")
    assert statuses[SENDER][0] == "queued"  # the DSN (failed, 4.4.7) waits for delivery


async def test_a_message_held_for_hours_is_judged_from_its_release(
    runtime: Runtime, put: Enqueue, store_fault: None
) -> None:
    """Held for review past the delay report and expiry times, then released: its first
    temporary failure defers it, with no delay report and no 'expired' bounce."""
    queue_id = await put([RCPT])
    past = utcnow() - dt.timedelta(hours=3)  # beyond delay_dsn_after and expire_after
    async with runtime.db.write() as session:
        await session.execute(update(QueuedMessage).values(received_at=past))
        await session.execute(update(Delivery).values(status="held", created_at=past))
    assert await hold.release(runtime.db, queue_id, actor="admin") == 1
    assert await run_once(runtime) == ["deferred"]
    (row,) = await rows(runtime.db)
    assert (row.status, row.attempts, row.delay_notified) == ("deferred", 1, False)


async def test_a_batch_with_one_failing_row_falls_back_row_by_row(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    await mailbox(runtime.db, SENDER)
    target = await mailbox(runtime.db, RCPT)
    await mailbox(runtime.db, "doctor.3@salus.test", status="suspended")
    await put([RCPT, "doctor.3@salus.test", SENDER])
    ids = await claim(runtime.db, Lease("w", 30), limit=10)
    results = await Deliverer(runtime, "w").attempt_batch(ids)
    assert results == ["delivered", "bounced", "delivered"]
    assert len(await inbox(runtime.db, at_rest, target)) == 1


async def test_a_clean_batch_is_one_transaction(
    runtime: Runtime, put: Enqueue, at_rest: AtRestCipher
) -> None:
    target = await mailbox(runtime.db, RCPT)
    for _ in range(5):
        await put([RCPT])
    ids = await claim(runtime.db, Lease("w", 30), limit=10)
    commits = count_commits(runtime.db)
    assert await Deliverer(runtime, "w").attempt_batch(ids) == ["delivered"] * 5
    assert commits == [1]
    assert len(await inbox(runtime.db, at_rest, target)) == 5


def count_commits(db: Database) -> list[int]:
    from sqlalchemy import event  # noqa: PLC0415

    counter = [0]

    def on_commit(_conn: object) -> None:
        counter[0] += 1

    event.listen(db.engine.sync_engine, "commit", on_commit)
    return counter


async def test_a_long_delay_tells_the_sender_once(
    runtime: Runtime, put: Enqueue, store_fault: None
) -> None:
    queue_id = await put([RCPT])
    async with runtime.db.write() as session:  # queued 90 minutes ago: past the delay notice
        past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=90)
        await session.execute(update(QueuedMessage).values(received_at=past))
        await session.execute(update(Delivery).values(created_at=past))
    for _ in range(2):
        assert await run_once(runtime, "w") in (["deferred"], ["deferred", "deferred"])
        async with runtime.db.write() as session:
            await session.execute(
                update(Delivery).where(Delivery.recipient == RCPT).values(
                    next_attempt_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
    async with runtime.db.read() as session:
        reports = (await session.execute(
            select(QueuedMessage).where(QueuedMessage.origin == "dsn"))).scalars().all()
        events = (await session.execute(
            select(QueueEvent.event).where(QueueEvent.queue_id == queue_id))).scalars().all()
        content = await session.get(QueuedContent, f"{reports[0].id}.0") if reports else None
    assert len(reports) == 1
    assert events.count("dsn-queued") == 1 and events.count("deferred") == 2
    assert content is not None and content.sealed is not None
    report = runtime.at_rest.open(content.sealed, content_context(content.id))
    assert b"Action: delayed" in report and b"Subject: Delivery delayed" in report
