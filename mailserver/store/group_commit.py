"""Group commit for the small writes of many sessions (audit entries of reads, implicit
\\Seen, flag changes).

On SQLite every write transaction ends in an fsync and there is one writer: IMAP
sessions reading mail each need a small write (the audit entry of a body fetch), and
one fsync apiece would cap the whole server at the disk's fsync rate. Jobs that arrive
while a commit is running wait for the next one and share it: each job runs in its own
SAVEPOINT (its failure undoes only its own changes and is raised to its caller only),
and every caller returns after the shared commit, so what it wrote is durable before it
answers its client. On PostgreSQL, which has concurrent writers, each job simply runs
in a transaction of its own: batching would make unrelated sessions hold each other's
row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]
MAX_BATCH = 64


class GroupCommit:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[tuple[Job, asyncio.Future[Any]]] = []
        self._worker: asyncio.Task[None] | None = None

    async def run(self, job: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Run `job` in a write transaction; return its result once committed."""
        if not self._db.is_sqlite:
            async with self._db.write() as session:
                return await job(session)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((job, future))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._commit(batch)

    async def _commit(self, batch: list[tuple[Job, asyncio.Future[Any]]]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            async with self._db.write() as session:
                for job, future in batch:
                    try:
                        async with session.begin_nested():
                            outcomes.append((future, True, await job(session)))
                    except Exception as exc:  # the job's own failure, rolled back alone
                        outcomes.append((future, False, exc))
        except Exception as exc:  # the commit itself failed: nobody's write is durable
            for _job, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def close(self) -> None:
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker
