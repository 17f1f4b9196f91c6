"""Group commit for the writes of many sessions (audit entries of reads, implicit \\Seen,
flag changes, APPEND), with the audit entries of a whole batch appended at once.

On SQLite every write transaction ends in an fsync and there is one writer: IMAP
sessions reading mail each need a small write (the audit entry of a body fetch), and
one fsync apiece would cap the whole server at the disk's fsync rate. Jobs that arrive
while a commit is running wait for the next one and share it: each job runs in its own
SAVEPOINT (its failure undoes only its own changes and is raised to its caller only;
a job alone in its batch needs none: its failure rolls the transaction back),
and every caller returns after the shared commit, so what it wrote is durable before it
answers its client. Audit events given with a job are appended, in one go for the batch,
only when their job succeeded. On PostgreSQL, which has concurrent writers, each job simply runs
in a transaction of its own: batching would make unrelated sessions hold each other's
row locks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store import durability
from storage import audit
from storage.audit import AuditEvent
from storage.database import Database
from storage.errors import StorageUnavailable

T = TypeVar("T")
Job = Callable[[AsyncSession], Awaitable[Any]]
MAX_BATCH = 64


@dataclass(frozen=True, slots=True)
class _Pending:
    job: Job | None
    events: Sequence[AuditEvent]
    future: asyncio.Future[Any]
    fsync: bool  # False: a record of a read, durable against a crash of the process
    atomic: bool  # the job writes nothing when it fails: no SAVEPOINT around it


class GroupCommit:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._queue: list[_Pending] = []
        self._worker: asyncio.Task[None] | None = None
        durability.install(db)

    async def run(
        self,
        job: Callable[[AsyncSession], Awaitable[T]],
        *,
        events: Sequence[AuditEvent] = (),
        fsync: bool = True,
        atomic: bool = False,
    ) -> T:
        """Run `job` (then append `events`) in a write transaction; return the job's result
        once committed. `fsync=False` (the record of a read: its audit entry, its implicit
        \\Seen) lets a batch made only of such jobs commit without an fsync on SQLite
        (store/durability.py): lost by a power cut, never by a crash of the process.
        `atomic`: the job has written nothing when it raises (it fails before its first
        change, or only by a failure of the database, which fails the whole batch), so it
        shares a batch without a SAVEPOINT, two statements fewer."""
        if not self._db.is_sqlite:
            async with self._db.write() as session:
                value = await job(session)
                await audit.append(session, *events)
                return value
        queued: T = await self._queued(job, events, fsync, atomic)
        return queued

    async def record(self, *events: AuditEvent, fsync: bool = True) -> None:
        """Append audit events; return once committed (`fsync` as for `run`)."""
        if not self._db.is_sqlite:
            async with self._db.write() as session:
                await audit.append(session, *events)
            return
        await self._queued(None, events, fsync, atomic=True)

    async def _queued(
        self, job: Job | None, events: Sequence[AuditEvent], fsync: bool, atomic: bool
    ) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(job, events, future, fsync, atomic))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # One turn of the loop first: sessions already on their way to a write join it.
        await asyncio.sleep(0)
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            await self._commit(batch)

    async def _commit(self, batch: list[_Pending]) -> None:
        outcomes: list[tuple[asyncio.Future[Any], bool, Any]] = []
        try:
            async with self._db.write() as session:
                if not any(pending.fsync for pending in batch):
                    await durability.process_durable(session)
                events: list[AuditEvent] = []
                for pending in batch:
                    if len(batch) == 1:  # alone: its failure may undo the whole transaction
                        ok, value = True, await _run(session, pending.job)
                    else:
                        ok, value = await _run_one(session, pending.job, pending.atomic)
                    outcomes.append((pending.future, ok, value))
                    if ok:
                        events.extend(pending.events)
                await audit.append(session, *events)
        except Exception as exc:  # the commit itself failed: nobody's write is durable
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for future, ok, value in outcomes:
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    async def close(self) -> None:
        """Wait for the writes already queued."""
        if self._worker is not None:
            with contextlib.suppress(Exception):
                await self._worker


async def _run(session: AsyncSession, job: Job | None) -> Any:
    return None if job is None else await job(session)


async def _run_one(session: AsyncSession, job: Job | None, atomic: bool) -> tuple[bool, Any]:
    """(True, result) or (False, the job's exception, its changes rolled back alone, by
    its SAVEPOINT unless it is atomic). A failure of the database itself (a full disk, a
    lost connection) fails the batch: SQLite may have rolled back the whole transaction,
    not just the job's savepoint, and `Database.write` turns it into StorageUnavailable
    for every caller (statements run in plain sqlite3 raise that themselves)."""
    if job is None:
        return True, None
    try:
        if atomic:
            return True, await job(session)
        async with session.begin_nested():
            return True, await job(session)
    except (OperationalError, InterfaceError, StorageUnavailable):
        raise
    except Exception as exc:
        return False, exc
