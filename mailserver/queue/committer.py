"""Group commit: the enqueues of concurrent sessions share one transaction and one fsync.

A session hands its submission to `commit` and waits; one task takes everything waiting
and commits it together, then wakes each session with its own result. Nothing waits
for a batch to fill: while one commit is in flight the next batch gathers, so a lone
session pays one commit and twenty sessions pay far fewer than twenty. A batch that fails
is retried one submission at a time, so one bad submission never fails the others.

The commit runs in the committer's task, not the session's: a client that disconnects
cancels its wait, never a transaction halfway through its commit (its message may then
be queued without a 250: a duplicate at worst, RFC 5321 §6.1, never a loss). On SQLite
its transactions go before the delivery workers' when both are waiting (`Database.write`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from crypto.at_rest import AtRestCipher
from mailserver.queue.enqueue import Submission, enqueue_many
from storage.audit import AuditEvent
from storage.database import Database

MAX_BATCH = 64


@dataclass(slots=True)
class _Waiting:
    submission: Submission
    events: Sequence[AuditEvent]
    done: asyncio.Future[None]


class GroupCommitter:
    def __init__(self, db: Database, at_rest: AtRestCipher, *, max_batch: int = MAX_BATCH) -> None:
        self.db = db
        self.at_rest = at_rest
        self.max_batch = max_batch
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None

    async def commit(self, submission: Submission, events: Sequence[AuditEvent] = ()) -> None:
        """Return once `submission` is committed; raise what the commit raised."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(submission, events, done))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._drain())
        await asyncio.shield(done)

    async def close(self) -> None:
        """Wait for the commits already handed in."""
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _drain(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[: self.max_batch], self._waiting[self.max_batch :]
            try:
                await self._write(batch)
            except Exception:  # isolate the failing submission(s)
                for one in batch:
                    await self._write_alone(one)
                continue
            for one in batch:
                _resolve(one.done, None)

    async def _write(self, batch: list[_Waiting]) -> None:
        async with self.db.write() as session:
            await enqueue_many(session, self.at_rest, [(w.submission, w.events) for w in batch])

    async def _write_alone(self, one: _Waiting) -> None:
        try:
            await self._write([one])
        except Exception as exc:
            _resolve(one.done, exc)
        else:
            _resolve(one.done, None)


def _resolve(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(error)
