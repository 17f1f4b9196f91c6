"""The `sqlite3` connection under a SQLite write session, for the few statements of the
hottest writes (a body FETCH's audit entry and implicit \\Seen, `audit_rows` and
`writes.add_system_flags`).

Run through an AsyncSession, a statement costs the loop a greenlet switch, the
statement's cache look-up, parameter and result processing: 0.1-0.2 ms for what SQLite
does in 10-20 us, and a body FETCH makes five of them. On SQLite a write session holds
the single writer connection (`storage.sqlite_writer`) inside `BEGIN IMMEDIATE`, so its
`sqlite3` connection can run them directly, in the same transaction: committed or
rolled back with everything else the session wrote. Pending ORM changes are flushed
first so that statements keep their order. Failures of the database are mapped as
`Database.write` maps those of statements run through SQLAlchemy.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.ext.asyncio import AsyncSession

from storage.errors import StorageUnavailable
from storage.sqlite_writer import WriterConnection


async def connection_of(session: AsyncSession) -> sqlite3.Connection | None:
    """The writer's `sqlite3` connection under `session`'s transaction, or None (not
    SQLite's write engine: PostgreSQL, a read session)."""
    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    if type(driver) is not WriterConnection:  # its subclass LookupConnection only reads
        return None
    if session.new or session.dirty or session.deleted:
        await session.flush()
    return driver.sqlite


def unavailable(exc: sqlite3.OperationalError) -> StorageUnavailable:
    """What a failure of the database (disk full, I/O error) becomes for the caller."""
    return StorageUnavailable(f"database unavailable: OperationalError: {exc}")
