"""storage.inline: a Core look-up run by `sqlite3` on the event loop gives the same rows,
with the same Python types (aware datetimes, bytes, booleans, None), as the same
statement through a session; it sees the last commit; a statement that needs a value it
was not given fails instead of reading NULL; a busy database is read through the
session path instead of waiting on the loop."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Table, bindparam, insert, select, text
from sqlalchemy.exc import IntegrityError

from directory import repository
from directory.models import Mailbox
from mailserver.queue.models import QueuedMessage
from storage import migrate
from storage.database import Database
from storage.inline import (
    InlineReads,
    PgLookups,
    fetch,
    insert_rows,
    raw_postgres,
    raw_writer,
    rows,
)
from tests.protocol.smtp.harness import seed_directory

_MAILBOX = select(
    Mailbox.id, Mailbox.address, Mailbox.quota, Mailbox.local, Mailbox.created_at
).where(Mailbox.address == bindparam("address"))


async def _seeded(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(db)
    await seed_directory(db)
    return db


async def test_inline_rows_equal_the_session_rows(db: Database) -> None:
    """On SQLite by sqlite3 on the loop, on PostgreSQL by the look-up pool."""
    await seed_directory(db)
    assert isinstance(db.inline_reads, InlineReads if db.is_sqlite else PgLookups)
    address = "doctor.1@salus.test"
    inline = await fetch(db, _MAILBOX, address=address)
    async with db.read() as session:
        through_session = await rows(session, _MAILBOX, address=address)
    assert len(inline) == 1
    assert tuple(inline[0]) == tuple(through_session[0])
    created = inline[0].created_at
    assert isinstance(created, dt.datetime) and created.tzinfo is not None
    assert inline[0].local is True
    assert await fetch(db, _MAILBOX, address="nobody@salus.test") == []
    ref = await repository.mailbox_ref(db, "Doctor.1@Salus.test")
    async with db.read() as session:
        assert ref == await repository.mailbox_ref(session, address)
    assert ref is not None and ref.address == address
    async with db.write() as session:
        row = await repository.mailbox_by_address(session, address)
        assert row is not None
        row.display_name = "Dr Renamed"
    renamed = await repository.mailbox_ref(db, address)
    assert renamed is not None and renamed.display_name == "Dr Renamed"


async def test_a_missing_value_is_an_error_not_null(tmp_path: Path) -> None:
    db = await _seeded(tmp_path / "i.db")
    try:
        with pytest.raises(KeyError, match="address"):
            await fetch(db, _MAILBOX)
    finally:
        await db.dispose()


async def test_a_busy_database_is_read_through_the_session(tmp_path: Path) -> None:
    path = tmp_path / "i.db"
    db = await _seeded(path)
    try:
        assert db.inline_reads is not None
        # A connection that cannot read (busy timeout 0 against an exclusive lock)
        # stands where the inline one would wait: a rollback-journal database locked by
        # another writer. The inline path reports BUSY; fetch falls back to the session.
        db.inline_reads.close()
        locked = tmp_path / "locked.db"
        holder = sqlite3.connect(locked, isolation_level=None)
        holder.execute("CREATE TABLE t (v INTEGER)")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO t VALUES (1)")
        assert isinstance(db.inline_reads, InlineReads)
        db.inline_reads._path = str(locked)  # the inline connection now meets the lock
        found = await fetch(db, _MAILBOX, address="doctor.1@salus.test")
        assert [r.address for r in found] == ["doctor.1@salus.test"]  # read via the session
        holder.execute("COMMIT")
        holder.close()
    finally:
        await db.dispose()


async def test_inserts_on_the_writer_store_what_core_stores(db: Database) -> None:
    """insert_rows (the SQLite writer's sqlite3 connection, asyncpg on PostgreSQL) and a
    Core insert store the same values, scalar defaults included (on SQLite the same
    text); a duplicate key is SQLAlchemy's IntegrityError, and it rolls back with the
    session's transaction."""
    table = cast(Table, QueuedMessage.__table__)
    at = dt.datetime(2026, 3, 4, 10, 0, 0, 123456, tzinfo=dt.UTC)

    def row(queue_id: str) -> dict[str, object]:
        return {"id": queue_id, "message_id": f"{queue_id}@salus.test", "sender": "a@salus.test",
                "origin": "submission", "size": 10, "received_at": at}  # fmt: skip

    async with db.write() as session:
        await session.execute(insert(table), [row("Q0")])  # begins the transaction
        assert await raw_writer(session) is not None or await raw_postgres(session) is not None
        await insert_rows(session, table, [row("Q1")])
        await session.execute(insert(table), [row("Q2")])
    columns = (QueuedMessage.submitter, QueuedMessage.client, QueuedMessage.received_at)
    async with db.read() as session:
        stored = (await session.execute(select(*columns).order_by(QueuedMessage.id))).all()
        if db.is_sqlite:
            text_at = (await session.execute(text("SELECT received_at FROM queue_messages"))).all()
            assert {r[0] for r in text_at} == {"2026-03-04 10:00:00.123456"}
    assert [tuple(r) for r in stored] == [("", "", at)] * 3
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await session.execute(insert(table), [row("Q3")])
            await insert_rows(session, table, [row("Q1")])
    async with db.read() as session:
        ids = (await session.execute(select(QueuedMessage.id))).scalars().all()
    assert sorted(ids) == ["Q0", "Q1", "Q2"]
