"""SQLite connections for point look-ups, run on the event loop (`Database.lookup`).

A read through aiosqlite is a hop to the connection's thread for every driver call:
checking a connection out, BEGIN, each statement, each fetch, the rollback. Each hop
costs a queue put, the thread taking the GIL from the busy loop, and a self-pipe write
to wake the loop again. In the submission benchmark (bench/submission.py) the MAIL, RCPT
and protect-step look-ups, a dozen indexed reads per message, woke the loop about fifty
times a message; the wake-ups alone were a tenth of its time, more than the reads.

A look-up connection runs every statement inline instead, like the write connection
(`storage.sqlite_writer`), and for the same reason it never waits inline: its busy
timeout is 0. In WAL mode a reader waits for nobody in the usual case; in the rare
moments it could (recovery after a crash, a `TRUNCATE` checkpoint in a `salus` command)
the statement fails at once with SQLITE_BUSY, and is run again in the connection's own
thread with the real busy timeout. A statement that fails that way has returned no row,
so running it again is safe; once a read transaction has its snapshot, later steps no
longer wait.

Only for indexed reads of a few rows: a scan inline would stop every session for its
length. Scans keep `Database.read`. The connections are `query_only`: a look-up that
tried to write would fail loudly.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from storage.sqlite_writer import WriterConnection, WriterCursor


class LookupCursor(WriterCursor):
    """A cursor whose statements run inline, or in the thread when SQLite is busy."""

    _connection: LookupConnection

    async def execute(self, operation: str, parameters: Any = ()) -> LookupCursor:
        try:
            self._cursor.execute(operation, parameters)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
                raise
            await self._connection.waiting(self._cursor, operation, parameters)
        return self

    async def executemany(self, operation: str, parameters: Any) -> LookupCursor:
        raise sqlite3.OperationalError("a look-up connection runs no executemany")


class LookupConnection(WriterConnection):
    """The driver connection of the SQLite look-up engine (see the module docstring)."""

    THREAD_NAME = "sqlite-lookup"
    MORE_PRAGMAS = ("PRAGMA query_only=ON",)

    async def waiting(self, cursor: sqlite3.Cursor, operation: str, parameters: Any) -> None:
        """Run the statement again in the thread, waiting up to the busy timeout."""
        await self.in_thread(self._execute_waiting, cursor, operation, parameters)

    def cursor(self) -> LookupCursor:
        return LookupCursor(self)

    async def execute(self, operation: str, parameters: Any = ()) -> LookupCursor:
        return await self.cursor().execute(operation, parameters)

    async def executemany(self, operation: str, parameters: Any) -> LookupCursor:
        raise sqlite3.OperationalError("a look-up connection runs no executemany")

    async def commit(self) -> None:
        # A read transaction: ending it writes nothing and never waits.
        if self.sqlite.in_transaction:
            self.sqlite.commit()
