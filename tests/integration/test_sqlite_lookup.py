"""The SQLite look-up connection (storage.sqlite_reader, `Database.lookup`): its
statements run on the event loop's thread and see what the writer committed; it cannot
write; when another connection holds the database exclusively, the look-up waits in its
own thread, the loop stays free, and the read completes once the lock is released."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.database import Database
from storage.errors import StorageUnavailable
from storage.sqlite_reader import LookupConnection


async def _database(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    async with db.write() as session:
        await session.execute(text("CREATE TABLE t (v INTEGER)"))
        await session.execute(text("INSERT INTO t VALUES (1), (2)"))
    return db


async def test_lookups_run_on_the_loop_thread_and_read_committed_rows(tmp_path: Path) -> None:
    db = await _database(tmp_path / "l.db")
    ran_in: list[str] = []
    try:
        async with db.lookup() as session:
            raw = (await (await session.connection()).get_raw_connection()).driver_connection
            assert isinstance(raw, LookupConnection)
            raw.sqlite.set_trace_callback(
                lambda _sql: ran_in.append(threading.current_thread().name)
            )
            values = (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars().all()
            raw.sqlite.set_trace_callback(None)
        assert values == [1, 2]
        assert ran_in and set(ran_in) == {threading.current_thread().name}
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (3)"))
        async with db.lookup() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 3
    finally:
        await db.dispose()


async def test_a_lookup_cannot_write(tmp_path: Path) -> None:
    db = await _database(tmp_path / "l.db")
    try:
        with pytest.raises(StorageUnavailable, match="readonly"):
            async with db.lookup() as session:
                await session.execute(text("INSERT INTO t VALUES (9)"))
        async with db.read() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar() == 2
    finally:
        await db.dispose()


async def test_a_busy_database_makes_the_lookup_wait_in_its_thread(tmp_path: Path) -> None:
    """In WAL mode the moments a reader must wait (recovery after a crash) cannot be
    staged from a test; a rollback-journal database makes a reader wait for a writer's
    EXCLUSIVE lock, which takes the same path: SQLITE_BUSY inline, then the wait in the
    connection's thread."""
    path = tmp_path / "l.db"
    setup = sqlite3.connect(path, isolation_level=None)
    setup.execute("CREATE TABLE t (v INTEGER)")
    setup.execute("INSERT INTO t VALUES (1), (2)")
    setup.close()
    lookup = await LookupConnection.open(str(path), pragmas=(), busy_timeout_ms=10_000)
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN EXCLUSIVE")
        other.execute("INSERT INTO t VALUES (3)")

        async def read() -> int:
            cursor = await lookup.execute("SELECT count(*) FROM t")
            return int((await cursor.fetchone())[0])

        reading = asyncio.create_task(read())
        ticks = 0
        for _ in range(20):  # 0.2 s during which the look-up waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 20
        assert not reading.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(reading, 10) == 3
    finally:
        other.close()
        await lookup.close()
