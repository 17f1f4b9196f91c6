"""Group commit: concurrent sessions share transactions, each learns its own outcome,
and one failing submission does not fail the others."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crypto.at_rest import AtRestCipher
from gateway.pipeline import Copy
from mailserver.queue.committer import GroupCommitter
from mailserver.queue.enqueue import Submission
from mailserver.queue.ids import new_queue_id
from mailserver.queue.models import Delivery, Origin, QueuedMessage
from storage.database import Database
from tests.integration.queue.test_delivery import count_commits


def submission(queue_id: str | None = None) -> Submission:
    return Submission(
        queue_id=queue_id or new_queue_id(),
        message_id="m@salus.test",
        sender="doctor.1@salus.test",
        origin=Origin.SUBMISSION,
        copies=[Copy(b"Subject: x\r\n\r\nbody\r\n", ("doctor.2@salus.test", "doctor.3@salus.test"))],
    )


async def test_concurrent_commits_share_transactions(db: Database, at_rest: AtRestCipher) -> None:
    committer = GroupCommitter(db, at_rest)
    commits = count_commits(db)
    await asyncio.gather(*(committer.commit(submission()) for _ in range(40)))
    async with db.read() as session:
        messages = (await session.execute(select(QueuedMessage))).scalars().all()
        rows = (await session.execute(select(Delivery))).scalars().all()
    assert (len(messages), len(rows)) == (40, 80)
    assert commits[0] < 40


async def test_one_bad_submission_fails_alone(db: Database, at_rest: AtRestCipher) -> None:
    committer = GroupCommitter(db, at_rest)
    await committer.commit(submission("TAKEN"))
    results = await asyncio.gather(
        committer.commit(submission()),
        committer.commit(submission("TAKEN")),
        committer.commit(submission()),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], IntegrityError)
    async with db.read() as session:
        assert len((await session.execute(select(QueuedMessage))).scalars().all()) == 3


async def test_a_cancelled_waiter_does_not_cancel_the_commit(
    db: Database, at_rest: AtRestCipher
) -> None:
    committer = GroupCommitter(db, at_rest)
    waiter = asyncio.create_task(committer.commit(submission("KEPT")))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await committer.close()
    async with db.read() as session:
        assert await session.get(QueuedMessage, "KEPT") is not None
