"""A worker whose attempt could not be recorded (the database went away between its claim
and the attempt's commit) takes its own leased rows back at its next claim, instead of
waiting out its own lease; other workers still wait for the lease to expire."""

from __future__ import annotations

from mailserver.queue.claim import Lease, any_due, claim
from storage.database import Database
from tests.integration.queue.conftest import Enqueue


async def test_a_worker_takes_back_its_own_unrecorded_rows_at_once(
    db: Database, put: Enqueue
) -> None:
    await put(["doctor.2@salus.test", "doctor.3@salus.test"])
    leased = await claim(db, Lease("worker-a", 3600), limit=10)
    assert len(leased) == 2
    # Nothing was recorded for them: for anyone else they are leased for an hour.
    assert not await any_due(db)
    assert not await any_due(db, owner="worker-b")
    assert await claim(db, Lease("worker-b", 3600), limit=10) == []
    # Their owner claims again only once its attempts are over: they are its to retry.
    assert await any_due(db, owner="worker-a")
    assert sorted(await claim(db, Lease("worker-a", 3600), limit=10)) == sorted(leased)
