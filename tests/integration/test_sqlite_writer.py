"""The SQLite write connection (storage.sqlite_writer): while another process holds the
database's write lock, a waiting `db.write()` leaves the event loop free; once the lock
is released its transaction commits, durably, and what it wrote is read back. A failed
statement rolls back its transaction only; the submissions' commits (urgent) go before
the delivery writers queued with them, and keep their own order."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from sqlalchemy import text

from mailserver.store import durability
from storage.database import Database
from storage.sqlite_writer import INLINE_COMMITS, WriterConnection


async def test_waiting_for_the_write_lock_does_not_block_the_loop(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)  # another process's connection
        other.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))

        writing = asyncio.create_task(write())
        ticks = 0
        for _ in range(20):  # 0.2 s while the writer waits in busy_timeout
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done()
        assert ticks == 20
        other.execute("COMMIT")
        other.close()
        await asyncio.wait_for(writing, 10)
        check = sqlite3.connect(path)
        assert check.execute("SELECT v FROM t").fetchall() == [(1,)]
        check.close()
    finally:
        await db.dispose()


async def test_a_failed_statement_rolls_back_and_the_writer_goes_on(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER PRIMARY KEY)"))
            # A commit is durable when it returns (FULL = 2), and cascades hold.
            assert (await session.execute(text("PRAGMA synchronous"))).scalar() == 2
            assert (await session.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await session.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        try:
            async with db.write() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
                await session.execute(text("INSERT INTO t VALUES (1)"))
        except Exception as exc:  # the driver's IntegrityError, wrapped by SQLAlchemy
            assert "UNIQUE" in str(exc)
        else:
            raise AssertionError("a duplicate key was accepted")
        async with db.write() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
        async with db.read() as session:
            assert (await session.execute(text("SELECT v FROM t"))).scalars().all() == [2]
    finally:
        await db.dispose()


async def test_background_writers_let_the_writers_queued_with_them_go_first(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    order: list[str] = []
    release = asyncio.Event()

    async def write(name: str, *, background: bool = False, hold: bool = False) -> None:
        async with db.write(background=background) as session:
            await session.execute(text("SELECT 1"))
            order.append(name)
            if hold:
                await release.wait()

    try:
        running = asyncio.create_task(write("running", hold=True))
        await asyncio.sleep(0.05)
        queued = [
            asyncio.create_task(write("delivery", background=True)),
            asyncio.create_task(write("audit")),
            asyncio.create_task(write("delivery 2", background=True)),
        ]
        await asyncio.sleep(0.01)
        queued.append(asyncio.create_task(write("commit")))
        await asyncio.sleep(0.01)
        release.set()
        await asyncio.wait_for(asyncio.gather(running, *queued), 10)
        # Each background writer lets the others go first, once; all keep their order.
        assert order == ["running", "audit", "commit", "delivery", "delivery 2"]
    finally:
        await db.dispose()


async def test_commits_without_an_fsync_run_inline_and_let_a_checkpoint_run_in_the_thread(
    tmp_path: Path,
) -> None:
    """A `synchronous=NORMAL` commit (a read's record) is a write to the WAL: it runs on
    the event loop's thread; a FULL commit, and every INLINE_COMMITS-th NORMAL one (where
    the automatic checkpoint may run), in the writer's thread. Both are read back."""
    path = tmp_path / "w.db"
    db = Database(f"sqlite+aiosqlite:///{path}")
    durability.install(db)
    committed_in: list[str] = []
    try:
        async with db.write() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            raw = (await (await session.connection()).get_raw_connection()).driver_connection
            assert isinstance(raw, WriterConnection)

            def trace(sql: str) -> None:
                if sql.upper().startswith(("COMMIT", "END")):
                    committed_in.append(threading.current_thread().name)

            raw.sqlite.set_trace_callback(trace)
        assert committed_in == ["sqlite-writer_0"]
        committed_in.clear()
        for value in range(2 * INLINE_COMMITS):
            async with db.write() as session:
                await durability.process_durable(session)
                await session.execute(text("INSERT INTO t VALUES (:v)"), {"v": value})
        main = threading.current_thread().name
        assert committed_in.count("sqlite-writer_0") == 2
        assert committed_in.count(main) == 2 * INLINE_COMMITS - 2
        assert raw.sqlite.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        committed_in.clear()
        async with db.write() as session:  # FULL again: through the thread
            await session.execute(text("INSERT INTO t VALUES (-1)"))
        assert committed_in == ["sqlite-writer_0"]
        check = sqlite3.connect(path)
        assert check.execute("SELECT count(*) FROM t").fetchone() == (2 * INLINE_COMMITS + 1,)
        check.close()
    finally:
        await db.dispose()
