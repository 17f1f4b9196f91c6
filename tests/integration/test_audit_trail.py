from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from storage import audit
from storage.audit import AuditEntry, AuditEvent
from storage.database import Database
from storage.errors import AuditChainBroken


def _event(n: int) -> AuditEvent:
    return AuditEvent("admin", "mailbox.add", f"dr{n}@salus.test", "ok", "cli", {"n": n})


async def test_chain_verifies_and_exports(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(5)))
    async with db.write() as session:
        await audit.append(session, _event(5))
    assert await audit.verify(db) == 6
    rows = [e async for e in audit.export(db)]
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5, 6]
    later = [e async for e in audit.export(db, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))]
    assert later == []


async def test_altered_entry_is_named(db: Database) -> None:
    await audit.record(db, *(_event(n) for n in range(4)))
    async with db.write() as session:
        await session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(result="denied"))
    with pytest.raises(AuditChainBroken) as info:
        await audit.verify(db)
    assert info.value.seq == 3


async def test_rolled_back_action_leaves_no_entry(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await audit.append(session, _event(1))
            raise RuntimeError("action failed")
    assert await audit.verify(db) == 0


async def test_concurrent_first_appends_form_one_chain(db: Database) -> None:
    """On a fresh database, the first appends of concurrent writers (several nodes on
    PostgreSQL) lock the head row the migration created; none fails, one chain."""
    import asyncio  # noqa: PLC0415

    await asyncio.gather(*(audit.record(db, _event(n)) for n in range(8)))
    assert await audit.verify(db) == 8
