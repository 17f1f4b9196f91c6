"""storage.inline: a Core look-up run by `sqlite3` on the event loop gives the same rows,
with the same Python types (aware datetimes, bytes, booleans, None), as the same
statement through a session; it sees the last commit; a statement that needs a value it
was not given fails instead of reading NULL; a busy database is read through the
session path instead of waiting on the loop."""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select

from crypto import keystore
from directory import repository
from directory.models import Mailbox
from storage import migrate
from storage.database import Database
from storage.inline import fetch, rows
from tests.protocol.smtp.harness import seed_directory

_MAILBOX = select(
    Mailbox.id, Mailbox.address, Mailbox.quota, Mailbox.local, Mailbox.created_at
).where(Mailbox.address == bindparam("address"))


async def _seeded(path: Path) -> Database:
    db = Database(f"sqlite+aiosqlite:///{path}")
    await migrate.upgrade(db)
    await seed_directory(db)
    return db


async def test_inline_rows_equal_the_session_rows(tmp_path: Path) -> None:
    db = await _seeded(tmp_path / "i.db")
    try:
        assert db.inline_reads is not None
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
    finally:
        await db.dispose()


async def test_an_inline_lookup_sees_the_last_commit(tmp_path: Path) -> None:
    db = await _seeded(tmp_path / "i.db")
    try:
        assert await keystore.usable_until(db, "doctor.1@salus.test") is None
        async with db.write() as session:
            row = await repository.mailbox_by_address(session, "doctor.1@salus.test")
            assert row is not None
            row.display_name = "Dr Renamed"
        ref = await repository.mailbox_ref(db, "doctor.1@salus.test")
        assert ref is not None and ref.display_name == "Dr Renamed"
    finally:
        await db.dispose()


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
        db.inline_reads._path = str(locked)  # the inline connection now meets the lock
        found = await fetch(db, _MAILBOX, address="doctor.1@salus.test")
        assert [r.address for r in found] == ["doctor.1@salus.test"]  # read via the session
        holder.execute("COMMIT")
        holder.close()
    finally:
        await db.dispose()
