"""Commits that survive a crash of the process but not a power cut, for the records of
reads on SQLite (docs/decisions.md "IMAP: reads recorded without an fsync").

Every SQLite commit is `synchronous=FULL`: the WAL is fsynced before COMMIT returns,
which is what a 250 or an APPEND's OK promises. A body FETCH only records who read what
(its audit entry, and the implicit \\Seen), and under load the fsync was most of its
time (4.2 ms of a 7.8 ms FETCH at load 7, docs/benchmarks.md). With
`synchronous=NORMAL` in WAL mode a commit is written to the WAL (in the operating
system's cache) without the fsync: a crash of Salus loses nothing, a power cut may lose
the last such commits whole (the WAL's checksums end the log at a complete transaction,
so the audit chain stays verifiable), and the next FULL commit or checkpoint makes them
durable. Dovecot treats flag changes the same way (`mail_fsync=optimized`).

The level is a connection setting that SQLite refuses to change inside a transaction,
so a listener placed before `storage.database`'s own BEGIN sets it for each
transaction: NORMAL when the session asked for it (`process_durable`), FULL otherwise,
emitting the PRAGMA only when the level changes. Every other transaction therefore
begins at FULL whatever ran before it. PostgreSQL is left as it is.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession

from storage.database import Database

OPTION = "salus_process_durable"
_LEVEL = "salus_synchronous"
_installed: weakref.WeakSet[Engine] = weakref.WeakSet()


def install(db: Database) -> None:
    """Let this database's SQLite write transactions choose their level (idempotent)."""
    if not db.is_sqlite:
        return
    engine = db.engine.sync_engine
    if engine in _installed:
        return
    # First in line, before the listener that emits BEGIN: engine events drop
    # `insert=True` (SQLAlchemy 2.1), so the others are taken off and put back after.
    others = list(engine.dispatch.begin)
    for listener in others:
        event.remove(engine, "begin", listener)
    event.listen(engine, "begin", _on_begin)
    for listener in others:
        event.listen(engine, "begin", listener)
    _installed.add(engine)


def _on_begin(conn: Any) -> None:
    wanted = "NORMAL" if conn.get_execution_options().get(OPTION) else "FULL"
    if conn.info.get(_LEVEL, "FULL") != wanted:
        conn.exec_driver_sql(f"PRAGMA synchronous={wanted}")
        conn.info[_LEVEL] = wanted


async def process_durable(session: AsyncSession) -> None:
    """Begin the session's transaction at `synchronous=NORMAL` (call before anything
    else runs in it; SQLite only, after `install`)."""
    await session.connection(execution_options={OPTION: True})


def level(conn: Any) -> str:
    """The level the last transaction on this connection began with (for tests)."""
    return str(conn.info.get(_LEVEL, "FULL"))
