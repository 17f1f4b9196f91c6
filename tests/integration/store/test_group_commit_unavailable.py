"""GroupCommit when the database itself fails inside a job (SQLite's "database or disk is
full" as the driver raises it): every caller hears StorageUnavailable, which the protocol
edges answer as a temporary failure, and nothing of the batch is half committed."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from mailserver.store.group_commit import GroupCommit
from storage import audit
from storage.audit import AuditEntry, AuditEvent
from storage.database import Database
from storage.errors import StorageUnavailable


def _disk_full() -> OperationalError:
    return OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))


async def test_a_database_failure_in_a_job_is_storage_unavailable(db: Database) -> None:
    await audit.record(db, AuditEvent("t", "test.setup", "-", "ok"))
    writes = GroupCommit(db)

    async def written(n: int) -> int:
        async def job(session: AsyncSession) -> int:
            await audit.append(session, AuditEvent("t", "test.write", str(n), "ok"))
            return n

        return await writes.run(job)

    async def full(session: AsyncSession) -> None:
        await audit.append(session, AuditEvent("t", "test.write", "full", "ok"))
        raise _disk_full()

    with pytest.raises(StorageUnavailable):
        await writes.run(full)
    results = await asyncio.gather(
        *(written(n) for n in range(10)), writes.run(full), return_exceptions=True
    )
    await writes.close()
    assert isinstance(results[-1], StorageUnavailable)
    committed = [r for r in results[:-1] if isinstance(r, int)]
    # Jobs that shared the failed job's batch failed with it, as StorageUnavailable.
    assert all(isinstance(r, StorageUnavailable) for r in results[:-1] if r not in committed)
    async with db.read() as session:
        entries = int((await session.execute(select(func.count(AuditEntry.seq)))).scalar_one())
    assert entries == 1 + len(committed)
    assert await audit.verify(db) == entries
