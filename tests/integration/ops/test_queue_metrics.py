"""Queue depth and age are computed from the shared database at scrape time."""

from __future__ import annotations

import datetime as dt

from prometheus_client.parser import text_string_to_metric_families

from mailserver import metrics
from mailserver.queue.models import Delivery, QueuedContent, QueuedMessage
from storage.base import utcnow
from storage.database import Database


def _values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _queue(db: Database, statuses_and_ages: list[tuple[str, int]]) -> None:
    now = utcnow()
    async with db.write() as session:
        session.add(
            QueuedMessage(
                id="Q1",
                message_id="m1@salus.test",
                sender="a@salus.test",
                origin="submission",
                size=10,
                received_at=now,
            )
        )
        await session.flush()  # no ORM relationships: insert parents first
        session.add(QueuedContent(id="Q1.0", queue_id="Q1", sealed=b"x"))
        await session.flush()
        for n, (status, age) in enumerate(statuses_and_ages):
            session.add(
                Delivery(
                    queue_id="Q1",
                    content_id="Q1.0",
                    recipient=f"r{n}@salus.test",
                    status=status,
                    created_at=now - dt.timedelta(seconds=age),
                    next_attempt_at=now,
                    final_at=now if status in ("delivered", "bounced") else None,
                )
            )


async def test_depth_by_status_and_oldest_pending_age(db: Database) -> None:
    await _queue(db, [("queued", 60), ("queued", 10), ("deferred", 7200), ("delivered", 99999)])
    values = _values((await metrics.exposition(db)).decode())
    assert values[("salus_queue_depth", (("status", "queued"),))] == 2
    assert values[("salus_queue_depth", (("status", "deferred"),))] == 1
    # The delivered row is older but no longer waiting: the age is the deferred one's.
    assert 7200 <= values[("salus_queue_oldest_age_seconds", ())] < 99999
    assert values[("salus_database_up", ())] == 1


async def test_empty_queue_reports_zero(db: Database) -> None:
    values = _values((await metrics.exposition(db)).decode())
    assert values[("salus_queue_depth", (("status", "queued"),))] == 0
    assert values[("salus_queue_oldest_age_seconds", ())] == 0
